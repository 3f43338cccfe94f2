"""Typed seams: a label's provenance, the queue's kinds and the judge kind are types, and as text they
are what they always were (stored JSON and queue rows unchanged)."""

from __future__ import annotations

import json

from chainjudge.core.schema import REVIEW_PREFIX, JudgeKind, Label, LabelSource, Provenance, QueueKind
from chainjudge.review.queue import KINDS


def label(**fields) -> Label:
    return Label(**{"trace_id": "t", "step_ref": "0", "criterion": "c", "value": "fail", "annotator": "ana", **fields})


def test_a_label_says_where_it_came_from():
    assert label(annotator=REVIEW_PREFIX + "ana", kind="human", source=Provenance.review_reference("q1")).provenance == Provenance(
        source=LabelSource.adjudication, annotator="review:ana", reference="review:q1"
    )
    assert label(kind="ground-truth").provenance.source is LabelSource.ground_truth
    assert label(kind="human", source="labels.csv").provenance.reference == "labels.csv"
    assert label(kind="judge").provenance.source is LabelSource.judge


def test_the_reference_precedence_reads_the_provenance():
    from chainjudge.analysis.reference import reference_labels

    imported = label(annotator="ana", value="pass", kind="human")
    adjudicated = label(annotator=REVIEW_PREFIX + "bo", value="fail", kind="human")
    assert [label.value for label in reference_labels([imported, adjudicated])] == ["fail"]  # adjudication outranks import


def test_enums_read_and_store_as_their_text():
    assert str(QueueKind.abstained) == "abstained" and QueueKind.abstained == "abstained"
    assert KINDS[0] == "abstained" and len(KINDS) == len(set(KINDS)) == 9
    assert JudgeKind("check") is JudgeKind.check and JudgeKind.check == "check"
    stored = label().model_dump(mode="json")
    assert "provenance" not in stored  # derived, never stored: existing label rows keep their JSON
    assert json.loads(json.dumps({"kind": QueueKind.panel_split})) == {"kind": "panel_split"}
