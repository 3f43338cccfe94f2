"""Each label's probability, read from a completion's token log-probabilities.

A verdict's label is one word in a JSON answer; the server's `top_logprobs` at the token where the label's
value starts say how likely each other label was (llama.cpp and OpenAI return them when asked).  That
graded view of a judge's decision is what an aligned judge's threshold is chosen on: a small judge that
says "correct" with 0.9999 but "error" with 1e-4 ranks steps far better than its labels show.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

# where a verdict's label value starts; the last one in the answer (the label follows the rationale, and a
# quoted "label" inside the rationale is escaped, so it cannot match). Linear: no nested quantifiers.
_LABEL_VALUE = re.compile(r'"label"\s*:\s*"?')
_TRAILING = '",} \n\r\t'


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def label_probabilities(raw: Any, labels: Sequence[str]) -> dict[str, float] | None:
    """Label -> probability (summing to 1 over the labels seen among the alternatives), or None when the
    completion carries no log-probabilities or none of the alternatives at the label is a label."""
    choices = _field(raw, "choices") or []
    logprobs = _field(choices[0], "logprobs") if choices else None
    content = _field(logprobs, "content") if logprobs is not None else None
    if not content:
        return None
    tokens = [str(_field(t, "token") or "") for t in content]
    text = "".join(tokens)
    start = None
    for match in _LABEL_VALUE.finditer(text):
        start = match.end()
    if start is None:
        return None
    offset = 0
    for index, token in enumerate(tokens):  # noqa: B007 - index is read after the loop: the token holding the value
        if offset + len(token) > start:
            break
        offset += len(token)
    else:
        return None
    prefix = text[offset:start]  # part of the token that precedes the value (e.g. ' "' merged with it)
    mass = dict.fromkeys(labels, 0.0)
    for alternative in _field(content[index], "top_logprobs") or []:
        token = str(_field(alternative, "token") or "")
        if not token.startswith(prefix):
            continue
        value = token[len(prefix) :].lstrip(' "').rstrip(_TRAILING)
        matched = [label for label in labels if value and label.startswith(value)]
        logprob = _field(alternative, "logprob")
        if matched and logprob is not None and math.isfinite(logprob):
            for label in matched:
                mass[label] += math.exp(logprob) / len(matched)
    total = sum(mass.values())
    if total <= 0:
        return None
    return {label: value / total for label, value in mass.items()}
