from hypothesis import given
from hypothesis import strategies as st

from chainjudge.core.segment import split_numbered, split_paragraphs, split_sentences, split_text


def test_numbered_steps():
    text = "Plan:\n1. Look up the profile.\n2) Check consent.\nStep 3: Decide."
    assert split_numbered(text) == ["Plan:", "1. Look up the profile.", "2) Check consent.", "Step 3: Decide."]


def test_numbered_without_markers_is_one_piece():
    assert split_numbered("just one thought") == ["just one thought"]


def test_paragraphs():
    assert split_paragraphs("a\nb\n\n  \nc") == ["a\nb", "c"]


def test_sentences_keep_abbreviations_together():
    text = "She lapsed 40 days ago, e.g. no opens. Send email! Is it quiet hours? No."
    assert split_sentences(text) == ["She lapsed 40 days ago, e.g. no opens.", "Send email!", "Is it quiet hours?", "No."]


def test_cjk_sentence_marks():
    assert split_sentences("用户已退订。 不要发送。") == ["用户已退订。", "不要发送。"]


@given(st.text(max_size=300), st.sampled_from(["none", "numbered", "paragraphs", "sentences"]))
def test_splitting_never_loses_words(text, mode):
    pieces = split_text(text, mode)
    assert "".join("".join(p.split()) for p in pieces) == "".join(text.split())
