"""Worked examples for an aligned judge (pure): `Retriever` gives each judged step its k most similar
labelled steps of the same criterion, balanced across labels, so the judge sees worked examples of both
passing and failing steps next to the one it judges.  The embedding function is passed in (cached in the
store by the caller); building the examples from the store's tune labels is `workflows/alignment.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from chainjudge.core.schema import AlignedExample, AlignedJudge, Criterion, Step, Trace

MAX_TEXT = 1200


class Retriever:
    """The worked examples of one aligned judge for any step: nearest first, balanced across labels."""

    def __init__(self, aligned: AlignedJudge, embed: Callable[[list[str]], np.ndarray], exclude_same_trace: bool = False) -> None:
        self.aligned = aligned
        self._embed = embed
        # judging tune steps (to fit thresholds): an example from the step's own trace would be an answer key
        self.exclude_same_trace = exclude_same_trace
        self._by_criterion: dict[str, tuple[list[AlignedExample], np.ndarray]] = {}
        for criterion in sorted({e.criterion for e in aligned.examples}):
            members = [e for e in aligned.examples if e.criterion == criterion]
            self._by_criterion[criterion] = (members, _unit(embed([e.text for e in members])))

    def examples_for(self, trace: Trace, step: Step, criteria: Sequence[Criterion]) -> list[AlignedExample]:
        query = _unit(self._embed([step.render()[:MAX_TEXT]]))[0]
        chosen: list[AlignedExample] = []
        for criterion in criteria:
            members, vectors = self._by_criterion.get(criterion.id, ([], np.zeros((0, 1))))
            if not members:
                continue
            order = np.argsort(-(vectors @ query), kind="stable")
            nearest = [members[i] for i in order if not self._own(members[i], trace, step)]
            chosen += balanced(nearest, self.aligned.k)
        return chosen

    def _own(self, example: AlignedExample, trace: Trace, step: Step) -> bool:
        if example.trace_id != trace.id:
            return False
        return self.exclude_same_trace or example.step_ref == step.ref


def balanced(nearest: Sequence[AlignedExample], k: int) -> list[AlignedExample]:
    """Up to k examples, nearest first, taking each label in turn (a judge shown only failing examples
    learns that everything fails)."""
    by_label: dict[str, list[AlignedExample]] = {}
    for example in nearest:
        by_label.setdefault(example.label, []).append(example)
    queues = sorted(by_label.values(), key=lambda q: nearest.index(q[0]))
    picked: list[AlignedExample] = []
    while len(picked) < k and any(queues):
        for queue in queues:
            if queue and len(picked) < k:
                picked.append(queue.pop(0))
    return picked


def _unit(vectors) -> np.ndarray:
    array = np.asarray(vectors, dtype=float)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1, norms)
