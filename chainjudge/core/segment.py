"""Split free-text reasoning into steps (pure).

Agents often think in one long message; a judge scoring that message as a whole cannot say *which* part
went wrong.  These functions cut text into numbered steps, paragraphs or sentences so each can be judged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

SplitMode = Literal["none", "numbered", "paragraphs", "sentences"]
SPLIT_MODES: tuple[str, ...] = ("none", "numbered", "paragraphs", "sentences")

# "1.", "2)", "Step 3:", "(4)" at the start of a line
_NUMBERED = re.compile(r"(?im)^[ \t]*(?:step[ \t]*\d+[:.)]|\(?\d{1,3}[.)])[ \t]+")
# sentence ends: . ! ? and their CJK / Thai-friendly full-width forms, followed by space or end
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[\"')\]]*\s+")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "mr.", "mrs.", "dr.", "no.")


def split_numbered(text: str) -> list[str]:
    """Cut at numbered-list markers; text before the first marker is kept as its own piece."""
    starts = [m.start() for m in _NUMBERED.finditer(text)]
    if len(starts) < 2:
        return _nonempty([text])
    bounds = ([0] if starts[0] > 0 else []) + starts + [len(text)]
    return _nonempty(text[a:b] for a, b in zip(bounds, bounds[1:], strict=False))


def split_paragraphs(text: str) -> list[str]:
    return _nonempty(re.split(r"\n[ \t]*\n", text))


def split_sentences(text: str) -> list[str]:
    pieces: list[str] = []
    for paragraph in split_paragraphs(text):
        buffer = ""
        last = 0
        for match in _SENTENCE_END.finditer(paragraph):
            candidate = paragraph[last : match.end()]
            last = match.end()
            buffer += candidate
            if buffer.rstrip().lower().endswith(_ABBREVIATIONS):
                continue
            pieces.append(buffer)
            buffer = ""
        buffer += paragraph[last:]
        pieces.append(buffer)
    return _nonempty(pieces)


def split_text(text: str, mode: SplitMode) -> list[str]:
    if mode == "none":
        return _nonempty([text]) or [text]
    if mode == "numbered":
        return split_numbered(text)
    if mode == "paragraphs":
        return split_paragraphs(text)
    if mode == "sentences":
        return split_sentences(text)
    raise ValueError(f"unknown split mode {mode!r}; choose one of {', '.join(SPLIT_MODES)}")


def _nonempty(pieces: Iterable[str]) -> list[str]:
    return [p.strip() for p in pieces if p and p.strip()]
