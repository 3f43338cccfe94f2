"""The failure-mode catalogue: clusters of failing steps become modes with stable ids across runs.

A new run's clusters are matched to existing modes by centroid similarity, so FM-007 stays FM-007;
clusters that match nothing become new modes.  The catalogue is a YAML file the team owns and
reviews (rename, merge, split, mark fixed or accepted); every change bumps its version.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainjudge.analysis.cluster import Clustering
from chainjudge.core.schema import Catalogue, Exemplar, FailureMode

HEADER = "# chainjudge failure-mode catalogue: review it, rename modes, mark them fixed or accepted; keep it in version control.\n"
MATCH_THRESHOLD = 0.8


def encode_vector(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype=np.float16).tobytes()).decode()


def decode_vector(text: str) -> np.ndarray:
    vector = np.frombuffer(base64.b64decode(text), dtype=np.float16).astype(np.float32)
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


class Failure(Exemplar):
    """One failing judgment as clustering sees it: an exemplar-to-be, with the segment it touches and, in a
    multi-agent trace, the agent whose step failed."""

    segment: str | None = None
    agent: str | None = None


def _next_id(catalogue: Catalogue) -> str:
    numbers = [int(m.id.split("-")[1]) for m in catalogue.modes]
    return f"FM-{(max(numbers) + 1 if numbers else 1):03d}"


def update_catalogue(
    catalogue: Catalogue,
    run: str,
    failures: Sequence[Failure],
    clustering: Clustering,
    match_threshold: float = MATCH_THRESHOLD,
    exemplars_per_mode: int = 3,
) -> tuple[Catalogue, dict[int, str]]:
    """Fold a run's clusters into the catalogue. Returns the new catalogue and cluster index -> mode id."""
    modes = [m.model_copy(deep=True) for m in catalogue.modes]
    live = [m for m in modes if m.status != "merged"]
    centroids = np.stack([decode_vector(m.centroid) for m in live]) if live else np.zeros((0, 0))
    taken: set[str] = set()
    assignment: dict[int, str] = {}
    result = Catalogue(version=catalogue.version, embedding_model=catalogue.embedding_model, modes=modes)
    for index, cluster in enumerate(sorted(range(len(clustering.clusters)), key=lambda i: -len(clustering.clusters[i].members))):
        c = clustering.clusters[cluster]
        members = [failures[i] for i in c.members]
        mode = _known_mode(live, centroids, c.centroid, taken, match_threshold)
        exemplars = [Exemplar(**failures[i].model_dump(exclude={"segment", "agent"})) for i in c.medoids[:exemplars_per_mode]]
        if mode is None:
            mode = _new_mode(_next_id(result), " / ".join(c.keywords[:3]) or f"failure cluster {index + 1}", c, members, exemplars, run)
            result.modes.append(mode)
        else:
            _seen_again(mode, c.centroid, members, exemplars, run, exemplars_per_mode)
        mode.counts[run] = len(members)
        taken.add(mode.id)
        assignment[cluster] = mode.id
    return result, assignment


def _known_mode(
    live: list[FailureMode], centroids: np.ndarray, centroid: np.ndarray, taken: set[str], threshold: float
) -> FailureMode | None:
    """The most similar catalogued mode not yet matched in this run, when it is similar enough."""
    if not len(live):
        return None
    similarity = centroids @ centroid
    for best in np.argsort(-similarity):
        if similarity[best] < threshold:
            break
        if live[best].id not in taken:
            return live[best]
    return None


def _traits(members: Sequence[Failure]) -> tuple[list[str], list[str], list[str]]:
    """The criteria, segments and agents a cluster's failing steps touch."""
    return (
        sorted({f.criterion_id for f in members}),
        sorted({f.segment for f in members if f.segment}),
        sorted({f.agent for f in members if f.agent}),
    )


def _new_mode(mode_id: str, name: str, c: Any, members: Sequence[Failure], exemplars: list[Exemplar], run: str) -> FailureMode:
    criteria, segments, agents = _traits(members)
    return FailureMode(
        id=mode_id,
        name=name,
        keywords=c.keywords,
        criteria=criteria,
        segments=segments,
        agents=agents,
        first_seen=run,
        last_seen=run,
        counts={},
        exemplars=exemplars,
        centroid=encode_vector(c.centroid),
    )


def _seen_again(
    mode: FailureMode, centroid: np.ndarray, members: Sequence[Failure], exemplars: list[Exemplar], run: str, keep: int
) -> None:
    """A known mode in a new run: its traits grow, the new exemplars come first, the centroid drifts a little,
    and a mode marked fixed is open again."""
    criteria, segments, agents = _traits(members)
    mode.last_seen = run
    mode.criteria = sorted(set(mode.criteria) | set(criteria))
    mode.segments = sorted(set(mode.segments) | set(segments))
    mode.agents = sorted(set(mode.agents) | set(agents))
    mode.exemplars = (exemplars + [e for e in mode.exemplars if e.run != run])[: keep * 2]
    blended = 0.8 * decode_vector(mode.centroid) + 0.2 * centroid
    mode.centroid = encode_vector(blended / max(float(np.linalg.norm(blended)), 1e-9))
    if mode.status == "fixed":
        mode.status = "open"


def rename(catalogue: Catalogue, mode_id: str, name: str) -> Catalogue:
    result = catalogue.model_copy(deep=True)
    result.mode(mode_id).name = name
    return result


def set_status(catalogue: Catalogue, mode_id: str, status: str) -> Catalogue:
    result = catalogue.model_copy(deep=True)
    result.mode(mode_id).status = status  # type: ignore[assignment]
    return result


def merge(catalogue: Catalogue, source_id: str, target_id: str) -> Catalogue:
    """Fold source into target: counts add up, exemplars join; the source stays, marked merged."""
    if source_id == target_id:
        raise ValueError("a mode cannot be merged into itself")
    result = catalogue.model_copy(deep=True)
    source, target = result.mode(source_id), result.mode(target_id)
    target.counts = dict(Counter(target.counts) + Counter(source.counts))
    target.exemplars = target.exemplars + source.exemplars
    target.criteria = sorted(set(target.criteria) | set(source.criteria))
    target.keywords = list(dict.fromkeys(target.keywords + source.keywords))[:8]
    target.first_seen = min(target.first_seen, source.first_seen)
    blended = decode_vector(target.centroid) + decode_vector(source.centroid)
    target.centroid = encode_vector(blended / max(float(np.linalg.norm(blended)), 1e-9))
    source.status, source.merged_into = "merged", target_id
    return result


def trend(mode: FailureMode, runs: Sequence[str]) -> str:
    """A tiny bar per run, oldest first: how often the mode showed up."""
    bars = " ▁▂▃▄▅▆▇█"
    values = [mode.counts.get(r, 0) for r in runs]
    top = max(values, default=0) or 1
    return "".join(bars[min(8, round(8 * v / top))] if v else "·" for v in values)


def failure_text(criterion: str, rationale: str, step_text: str, with_step: bool = True) -> str:
    """What is embedded for a failing judgment: the criterion and the judge's rationale, and (by default)
    an excerpt of the step, so the same mistake on similar steps lands together."""
    if not with_step:
        return f"[{criterion}] {rationale.strip()}"
    excerpt = " ".join(step_text.split())[:200]
    return f"[{criterion}] {rationale.strip()} | step: {excerpt}"


def split_mode(
    catalogue: Catalogue, mode_id: str, run: str, members: Sequence[Failure], result: Clustering
) -> tuple[Catalogue, int, list[str]]:
    """The catalogue with MODE split along a tighter clustering of its failing steps: the largest part keeps
    the id (and its place), the others become new modes.  Returns (catalogue, steps kept, new ids)."""
    mode = catalogue.mode(mode_id).model_copy(deep=True)
    biggest = max(result.clusters, key=lambda c: len(c.members))
    mode.centroid = encode_vector(biggest.centroid)
    mode.counts[run] = len(biggest.members)
    rest = Clustering(clusters=[c for c in result.clusters if c is not biggest], outliers=result.outliers, silhouette=result.silhouette)
    others = catalogue.model_copy(update={"modes": [m for m in catalogue.modes if m.id != mode_id]})
    split, assignment = update_catalogue(others, run, members, rest, match_threshold=1.01)
    split.modes.insert([m.id for m in catalogue.modes].index(mode_id), mode)
    return split, len(biggest.members), sorted(set(assignment.values()))
