"""PII redaction before anything leaves for a judge: e-mail addresses, phone numbers (TH, MY, ID, SG,
VN, PH and international forms), national id numbers of those markets, card numbers, and patterns a
team adds.  Each distinct value becomes a stable placeholder ([EMAIL_1], [PHONE_2] ...) numbered in
order of first appearance within a trace, so prompts stay reproducible (and cacheable) and the judge
can still see that two mentions are the same person.  The mapping never leaves the machine: it is
kept in the local store so authorised reviewers can see the original.

Every default pattern is linear in its input: quantifiers are bounded and each pattern may only start
where a token starts (a look-behind), so a 1 MB token without spaces costs one pass, not a scan from every
position (the unbounded e-mail pattern took 35 s on an 80k-character token).  Redaction sees only the
text a prompt can show: each step is first cut to the judge's step budget, the way the prompt cuts it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chainjudge.core.schema import Trace


def luhn_ok(digits: str) -> bool:
    numbers = [int(d) for d in digits if d.isdigit()]
    if not 13 <= len(numbers) <= 19:
        return False
    total = 0
    for i, n in enumerate(reversed(numbers)):
        if i % 2:
            n *= 2
            n -= 9 if n > 9 else 0
        total += n
    return total % 10 == 0


@dataclass(frozen=True)
class PiiPattern:
    kind: str  # placeholder prefix: EMAIL, CARD, NATIONAL_ID, PHONE ...
    regex: re.Pattern[str]
    check: object = None  # optional callable(match_text) -> bool


_B = r"(?<![\w+])"  # not inside a longer token
_E = r"(?![\w])"

DEFAULT_PATTERNS: tuple[PiiPattern, ...] = (
    # local part <= 64 and labels <= 63 characters (RFC 5321); starts only where a token starts
    PiiPattern("EMAIL", re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}(?![\w-])")),
    # card numbers: 13-19 digits, optionally grouped by spaces or dashes, Luhn-valid
    PiiPattern("CARD", re.compile(_B + r"\d(?:[ -]?\d){12,18}" + _E), luhn_ok),
    # national ids
    PiiPattern("NATIONAL_ID", re.compile(_B + r"\d-\d{4}-\d{5}-\d{2}-\d" + _E)),  # TH citizen id, grouped
    PiiPattern("NATIONAL_ID", re.compile(_B + r"\d{6}-\d{2}-\d{4}" + _E)),  # MY NRIC / MyKad
    PiiPattern("NATIONAL_ID", re.compile(r"(?<![\w])[STFGM]\d{7}[A-Z](?![\w])")),  # SG NRIC / FIN
    PiiPattern("NATIONAL_ID", re.compile(_B + r"\d{4}-\d{4}-\d{4}-\d{4}" + _E)),  # PH PhilSys PSN
    PiiPattern("NATIONAL_ID", re.compile(_B + r"\d{16}" + _E)),  # ID NIK (16 digits, not Luhn cards)
    PiiPattern("NATIONAL_ID", re.compile(_B + r"\d{13}" + _E)),  # TH citizen id, ungrouped
    PiiPattern("NATIONAL_ID", re.compile(_B + r"0\d{11}" + _E)),  # VN CCCD (12 digits, leading 0)
    # phones: international (+66, +60, +62, +65, +84, +63 and others), then local forms of the six markets
    PiiPattern("PHONE", re.compile(r"(?<![\w])\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}(?![\w])")),
    PiiPattern("PHONE", re.compile(_B + r"0[689]\d[ -]?\d{3}[ -]?\d{4}" + _E)),  # TH mobile 08x-xxx-xxxx
    PiiPattern("PHONE", re.compile(_B + r"01\d[ -]?\d{3,4}[ -]?\d{4}" + _E)),  # MY mobile 01x-xxx(x)-xxxx
    PiiPattern("PHONE", re.compile(_B + r"08\d{2}[ -]?\d{3,4}[ -]?\d{3,5}" + _E)),  # ID mobile 08xx-xxxx-xxxx
    PiiPattern("PHONE", re.compile(_B + r"09\d{2}[ -]?\d{3}[ -]?\d{4}" + _E)),  # PH mobile 09xx-xxx-xxxx
    PiiPattern("PHONE", re.compile(_B + r"0[35789]\d[ .-]?\d{3}[ .-]?\d{3,4}" + _E)),  # VN mobile 09x xxx xxxx
    PiiPattern("PHONE", re.compile(_B + r"[689]\d{3}[ -]?\d{4}" + _E)),  # SG 8 digits starting 6/8/9
)


def custom_pattern(kind: str, regex: str) -> PiiPattern:
    """A team's own pattern, e.g. custom_pattern('CUSTOMER_ID', r'CUST-\\d{6}')."""
    return PiiPattern(kind.upper(), re.compile(regex))


@dataclass
class Redaction:
    """Placeholders of one trace: placeholder -> original."""

    mapping: dict[str, str] = field(default_factory=dict)
    _by_value: dict[str, str] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)

    def placeholder(self, kind: str, value: str) -> str:
        if value not in self._by_value:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            name = f"[{kind}_{self._counts[kind]}]"
            self._by_value[value] = name
            self.mapping[name] = value
        return self._by_value[value]


class Redactor:
    def __init__(self, patterns: Iterable[PiiPattern] = DEFAULT_PATTERNS) -> None:
        self.patterns = tuple(patterns)

    def redact_text(self, text: str, redaction: Redaction) -> str:
        for pattern in self.patterns:

            def replace(match: re.Match[str], pattern: PiiPattern = pattern) -> str:
                value = match.group(0)
                if pattern.check is not None and not pattern.check(value):  # type: ignore[operator]
                    return value
                return redaction.placeholder(pattern.kind, value)

            text = pattern.regex.sub(replace, text)
        return text

    def redact_trace(self, trace: Trace, max_chars: int | None = None) -> tuple[Trace, Redaction]:
        """The trace with PII replaced.  With max_chars (the judge's step budget), each text is first cut
        the way the prompt cuts it, so only what can be sent is scanned and kept."""
        redaction = Redaction()
        steps = []
        for step in trace.steps:
            update: dict[str, Any] = {"text": self.redact_text(_sent(step.text, max_chars), redaction)}
            if step.tool_calls:
                update["tool_calls"] = [
                    call.model_copy(update={"arguments": self.redact_text(_sent(call.arguments, max_chars), redaction)})
                    for call in step.tool_calls
                ]
            steps.append(step.model_copy(update=update))
        return trace.model_copy(update={"steps": steps}), redaction


def _sent(text: str, max_chars: int | None) -> str:
    if max_chars is None:
        return text
    from chainjudge.core.fencing import truncate

    return truncate(text, max_chars)


def restore(text: str, mapping: dict[str, str]) -> str:
    """Put the originals back (for authorised reviewers, from the local store)."""
    for placeholder, original in mapping.items():
        text = text.replace(placeholder, original)
    return text
