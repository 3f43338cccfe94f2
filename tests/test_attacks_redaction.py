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


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_one_megabyte_of_adversarial_text_redacts_in_under_a_second(name):
    text = ADVERSARIAL[name]
    assert len(text) >= MB - 200
    started = time.perf_counter()
    Redactor().redact_text(text, Redaction())
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{name}: {elapsed:.2f} s for {len(text)} characters"


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
