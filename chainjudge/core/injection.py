"""Flag trace steps that try to steer the judge, so people review them.

The prompt already fences trace text so it cannot act as instructions (see prompts.py) and verdicts are
read only from structured output; this detector adds a human check on top.  It looks for instructions
to the judge (English, Thai, Bahasa, Chinese, Vietnamese), fake fence delimiters, verdict-shaped JSON
(either quote), imitations of the worked-example format, role markers, and invisible characters that can
hide any of these.  The text is normalised first (NFKC, invisible characters dropped, Greek and Cyrillic
look-alikes read as Latin), so `Ignοre` with a Greek omicron reads as `Ignore`.
"""

from __future__ import annotations

import re
import unicodedata

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "instruction to ignore the rubric",
        re.compile(
            r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instruction|rubric|rule|criteria|prompt|above|previous|system)",
            re.I | re.S,
        ),
    ),
    (
        "instruction to the judge",
        re.compile(r"\b(as|you are) (the|an?) (judge|evaluator|grader|reviewer)\b|\bnote to (the )?(judge|evaluator|grader)\b", re.I),
    ),
    (
        "asks for a verdict",
        re.compile(
            r"\b(answer|respond|reply|output|return|mark|label|grade|rate|score|classify|judge|consider)\b\s*:?\s+"
            r"(?:(?:this|it|the \w+|with|as|that|only|always|every "
            r"\w+|an?|step|one)\s+){0,4}[\"'“]?(pass(ed|ing)?|correct|compliant|approved|10/10|5/5)\b",
            re.I,
        ),
    ),
    ("fake fence delimiter", re.compile(r"<<<|>>>|DATA-[0-9a-f]{6,}|</?(system|instructions?|untrusted|data|judge)>", re.I)),
    ("verdict-shaped JSON", re.compile(r"[{,]\s*[\"'](label|verdict|rationale|passed|score)[\"']\s*:", re.I)),
    ("imitates a worked example", re.compile(r"->\s*label\s+\w+|\"example\"\s*:|\bEX-[0-9a-f]{6,}", re.I)),
    ("role marker", re.compile(r"^\s*(system|assistant|developer)\s*:", re.I | re.M)),
    ("instruction in Thai", re.compile(r"(ไม่ต้อง|เพิกเฉย|ละเว้น|ลืม).{0,20}(คำสั่ง|กฎ|เกณฑ์)|ให้(คะแนน)?ผ่าน|ตอบว่าผ่าน")),
    (
        "instruction in Bahasa",
        re.compile(
            r"\b(abaikan|lupakan|acuhkan)\b.{0,30}\b(instruksi|perintah|aturan|rubrik|arahan)|\b(jawab|tandai|nilai)\b.{0,20}\b(lulus|benar|lolos)\b",
            re.I | re.S,
        ),
    ),
    (
        "instruction in Chinese",
        re.compile(
            r"(忽略|无视|忘记|忽視).{0,10}(指令|指示|说明|規則|规则|评分标准)|(回答|判定|评为|標記|标记).{0,6}(通过|通過|正确|合格)"
        ),
    ),
    (
        "instruction in Vietnamese",
        re.compile(r"\b(bỏ qua|phớt lờ)\b.{0,30}\b(hướng dẫn|chỉ dẫn|quy tắc)|\b(trả lời|đánh giá)\b.{0,20}\b(đạt|đúng)\b", re.I | re.S),
    ),
)

_INVISIBLE = {"Cf"}  # format characters: zero-width space / joiner, bidi controls, BOM ...


def invisible_characters(text: str) -> int:
    return sum(1 for ch in text if unicodedata.category(ch) in _INVISIBLE and ch not in "\u200d")  # ZWJ: emoji


# Greek and Cyrillic letters drawn like Latin ones: "Ignοre" with a Greek omicron read as "Ignore"
_LOOKALIKES = str.maketrans(
    {
        "α": "a",
        "ε": "e",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ς": "s",
        "Α": "A",
        "Β": "B",
        "Ε": "E",
        "Ζ": "Z",
        "Η": "H",
        "Ι": "I",
        "Κ": "K",
        "Μ": "M",
        "Ν": "N",
        "Ο": "O",
        "Ρ": "P",
        "Τ": "T",
        "Υ": "Y",
        "Χ": "X",
        "а": "a",
        "е": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "һ": "h",
        "ӏ": "l",
        "ԛ": "q",
        "ԝ": "w",
        "А": "A",
        "В": "B",
        "Е": "E",
        "К": "K",
        "М": "M",
        "Н": "H",
        "О": "O",
        "Р": "P",
        "С": "C",
        "Т": "T",
        "Х": "X",
        "Ү": "Y",
        "І": "I",
        "Ј": "J",
        "Ѕ": "S",
    }
)


def normalise(text: str) -> str:
    """What the rules read: compatibility forms folded (full-width letters, ligatures: NFKC), invisible
    characters dropped, Greek and Cyrillic look-alikes read as the Latin letters they imitate."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if unicodedata.category(ch) not in _INVISIBLE).translate(_LOOKALIKES)


def detect(text: str) -> list[str]:
    """Reasons this text looks like an attempt to steer a judge (empty: nothing found)."""
    reasons = []
    if invisible_characters(text):
        reasons.append("invisible characters")
    visible = normalise(text)
    if _mixes_scripts(text):
        reasons.append("look-alike letters")
    for reason, pattern in _RULES:
        if pattern.search(visible):
            reasons.append(reason)
    return reasons


def _mixes_scripts(text: str) -> bool:
    """A word with Latin letters and Greek or Cyrillic look-alikes together (an ordinary Greek or Russian
    word has no Latin letters in it)."""
    for word in re.findall(r"\w{2,40}", text):
        latin = any("a" <= ch.lower() <= "z" for ch in word)
        if latin and word.translate(_LOOKALIKES) != word:
            return True
    return False
