"""Redaction under hostile text: every default pattern is linear, and only the text a prompt can show is
scanned. (The e-mail pattern used to scan from every position of a long token: 35 s on 80k characters.)"""

from __future__ import annotations

import time

import pytest

from chainjudge.core.redact import Redaction, Redactor
from chainjudge.core.schema import Trace

MB = 1024 * 1024

ADVERSARIAL = {
    "one long word": "a" * MB,
    "hex blob": ("0123456789abcdef" * (MB // 16)),
    "dotted word": "a." * (MB // 2),
    "at signs": "a@" * (MB // 2),
    "almost e-mails": ("x" * 60 + "@" + "y" * 60 + ".") * (MB // 122),
    "spaced digits": "1 " * (MB // 2),
    "dashed digits": "1-" * (MB // 2),
    "plus digits": "+1 " * (MB // 3),
}


def _cpu_seconds(text: str) -> float:
    started = time.process_time()
    Redactor().redact_text(text, Redaction())
    return time.process_time() - started


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_one_megabyte_of_adversarial_text_redacts_in_linear_time(name):
    """Four times the text costs about four times the CPU (the quadratic e-mail pattern cost 16x: 1.9 /
    9.6 / 35.5 s on 20k / 40k / 80k characters), and 1 MB stays within seconds.  CPU time, and a ratio
    rather than a wall-clock limit, so a busy machine does not fail it (a 1 s wall-clock limit once read
    1.27 s under load); the absolute figures are bench/reliability.py's."""
    text = ADVERSARIAL[name]
    assert len(text) >= MB - 200
    quarter = min(_cpu_seconds(text[: len(text) // 4]) for _ in range(2))
    whole = _cpu_seconds(text)
    assert whole < 8 * max(quarter, 0.02), f"{name}: {whole:.2f} s for 1 MB, {quarter:.2f} s for a quarter"
    assert whole < 5.0, f"{name}: {whole:.2f} s of CPU for {len(text)} characters"


def test_redaction_still_finds_what_it_should():
    redaction = Redaction()
    out = Redactor().redact_text("mail ana.lee+crm@example.co.th or call +66 81 234 5678, card 4111 1111 1111 1111", redaction)
    assert "example.co.th" not in out and "5678" not in out and "4111" not in out
    assert set(redaction.mapping.values()) == {"ana.lee+crm@example.co.th", "+66 81 234 5678", "4111 1111 1111 1111"}


def test_only_the_text_the_judge_can_see_is_redacted_and_kept():
    middle = "never-sent@example.com"
    text = "contact first@example.com " + "z " * 500_000 + middle + " z" * 500_000 + " last@example.com"
    trace = Trace(id="t", steps=[{"index": 0, "ref": "0", "kind": "tool_result", "text": text}])
    started = time.perf_counter()
    redacted, redaction = Redactor().redact_trace(trace, max_chars=4000)
    assert time.perf_counter() - started < 1.0
    assert set(redaction.mapping.values()) == {"first@example.com", "last@example.com"}  # the middle is never sent
    assert len(redacted.steps[0].text) <= 4000 and middle not in redacted.steps[0].text
