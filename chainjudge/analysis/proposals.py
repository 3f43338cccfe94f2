"""Proposed rubric clarifications from the judge's disagreements with people on the tune split.

The tune steps where the aligned judge's decision and people's label differ are clustered (the failure-mode
machinery: embeddings, similarity communities, medoids, keywords); each group becomes a proposed worked
example on the criterion (the group's most central step, people's label, their reason) and one sentence
that says which way the judge erred there.  The result is a rubric *diff* for a person to read and
accept: `chainjudge align --propose` never changes a rubric itself.
"""

from __future__ import annotations

import copy
import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from chainjudge.analysis.cluster import cluster_failures
from chainjudge.core.decision_threshold import apply_threshold
from chainjudge.core.rubric import parse_rubric
from chainjudge.core.schema import Judgment, Label, Rubric, Threshold, Trace

MAX_PER_CRITERION = 3
EXCERPT = 500


@dataclass
class Disagreement:
    criterion: str
    text: str  # the step as the judge saw it (rendered), shortened
    reference: str  # people's label
    decided: str  # the judge's decision (after the threshold)
    reason: str  # people's reason (an adjudication note), or a plain statement
    missed: bool  # people failed it and the judge passed it (else: a false alarm)


@dataclass
class Clarification:
    criterion: str
    direction: str  # "missed failure" or "false alarm"
    size: int
    keywords: list[str]
    example: Disagreement


@dataclass
class Proposal:
    clarifications: list[Clarification]
    disagreements: int
    rubric: Rubric  # the proposed rubric (validated)
    data: dict  # the same, as the rubric file's data (what a person would save)
    diff: str


def disagreements(
    judgments: Sequence[Judgment], reference: Sequence[Label], rubric: Rubric, thresholds: dict[str, Threshold], traces: dict[str, Trace]
) -> list[Disagreement]:
    """Tune steps where the judge's decision (its threshold applied) and people's label differ on pass/fail."""
    people = {(label.trace_id, label.step_key, label.criterion): label for label in reference}
    scales = {c.id: c.scale for c in rubric.criteria}
    found = []
    for j in judgments:
        label = people.get((j.trace_id, j.step_ref, j.criterion_id))
        verdict = j.verdict
        if label is None or verdict is None or not j.scored or j.criterion_id not in scales:
            continue
        scale = scales[j.criterion_id]
        if j.criterion_id in thresholds and j.raw_label is None:
            verdict, _ = apply_threshold(verdict, j.label_probs, scale, thresholds[j.criterion_id].p_fail)
        if scale.passes(verdict.label) == scale.passes(label.value):
            continue
        trace = traces.get(j.trace_id)
        step = next((s for s in trace.steps if s.ref == j.step_ref), None) if trace else None
        if step is None:
            continue
        reason = label.note or f"people labelled this step {label.value}; the judge decided {verdict.label}"
        found.append(
            Disagreement(
                j.criterion_id, step.render()[:EXCERPT], label.value, verdict.label, reason[:400], missed=not scale.passes(label.value)
            )
        )
    return found


def cluster_disagreements(found: Sequence[Disagreement], embed) -> list[Clarification]:
    """Per criterion and direction, the largest groups of similar disagreements (a lone one stands alone)."""
    result = []
    groups: dict[tuple[str, bool], list[Disagreement]] = {}
    for d in found:
        groups.setdefault((d.criterion, d.missed), []).append(d)
    for (criterion, missed), members in sorted(groups.items()):
        vectors = embed([m.text for m in members])
        clustering = cluster_failures(vectors, [m.text for m in members], threshold=0.6, min_size=2)
        picked = [(len(c.members), c.keywords, members[c.medoids[0]]) for c in clustering.clusters]
        picked += [(1, [], members[i]) for i in clustering.outliers]
        for size, words, example in sorted(picked, key=lambda p: -p[0]):
            result.append(Clarification(criterion, "missed failure" if missed else "false alarm", size, words, example))
    by_criterion: dict[str, list[Clarification]] = {}
    for c in result:
        by_criterion.setdefault(c.criterion, []).append(c)
    return [c for cs in by_criterion.values() for c in _both_ways(cs)[:MAX_PER_CRITERION]]


def _both_ways(clarifications: Sequence[Clarification]) -> list[Clarification]:
    """Largest first, taking missed failures and false alarms in turn (both ways of erring get a say)."""
    ways = [sorted((c for c in clarifications if c.direction == d), key=lambda c: -c.size) for d in ("missed failure", "false alarm")]
    ways.sort(key=lambda w: -(w[0].size if w else 0))
    taken = []
    while any(ways):
        for way in ways:
            if way:
                taken.append(way.pop(0))
    return taken


def propose(rubric_data: dict, found: Sequence[Disagreement], embed, source: str) -> Proposal:
    """The rubric with the proposed clarifications, and the diff from the rubric as given."""
    clarifications = cluster_disagreements(found, embed)
    proposed = copy.deepcopy(rubric_data)
    counts = Counter((d.criterion, d.missed) for d in found)
    for entry in proposed.get("criteria", []):
        mine = [c for c in clarifications if c.criterion == entry.get("id")]
        if not mine:
            continue
        missed, alarms = counts[(entry["id"], True)], counts[(entry["id"], False)]
        entry["question"] = entry["question"].rstrip() + (
            f" Reviewers disagreed with the judge on {missed + alarms} tune steps like the examples below "
            f"({missed} failures it passed, {alarms} passing steps it failed): follow the examples' labels."
        )
        examples = entry.setdefault("examples", [])
        for c in mine:
            examples.append({"step": c.example.text, "label": c.example.reference, "rationale": c.example.reason})
    proposed_rubric = parse_rubric(proposed, f"{source} (proposed)")
    before = yaml.safe_dump(rubric_data, sort_keys=False, allow_unicode=True, width=100)
    after = yaml.safe_dump(proposed, sort_keys=False, allow_unicode=True, width=100)
    diff = "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), fromfile=source, tofile=f"{source} (proposed)"
        )
    )
    return Proposal(clarifications, len(found), proposed_rubric, proposed, diff)
