"""Failure clustering at scale and on real judge rationales.

1. 10,000 failing steps embedded (all-MiniLM-L6-v2, CPU) and clustered: time and peak memory (RSS), then
   a re-run with the embeddings cached in the store.  The texts are real: the per-step explanations the
   20 AgentProcessBench judges wrote for the steps they marked as errors or neutral, each prefixed with
   its judge and record so 10,000 distinct texts exist (the judges wrote ~2,300 distinct ones).
2. Quality on the real failing-step explanations alone (steps judged -1): number of modes, outlier
   share, silhouette (cosine), and the top modes with their exemplars.
3. With --embedder static: the same, with the token table distilled from MiniLM (the fast CPU path),
   and how far its modes agree with MiniLM's on the real explanations (adjusted Rand index).
4. --parts ann: the approximate neighbour index against all pairs on the same vectors (agreement of
   the communities, both times).

    python bench/cluster.py [--n 10000] [--embedder minilm|static] [--parts cep,scale,quality,ann]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine  # noqa: E402

from chainjudge.analysis.cluster import cluster_failures, communities  # noqa: E402
from chainjudge.workflows.embed import SentenceTransformerEmbedder, embed_cached  # noqa: E402

EMBEDDER = "minilm"


def make_embedder():
    if EMBEDDER == "static":
        from chainjudge.workflows.embed_static import StaticEmbedder

        return StaticEmbedder()
    return SentenceTransformerEmbedder()


def threshold() -> float:
    """Each embedder's default (chainjudge cluster uses the same)."""
    return 0.8 if EMBEDDER == "static" else 0.6


from chainjudge.core.store import Store  # noqa: E402

JUDGES = Path(__file__).resolve().parents[1] / "tests" / "data" / "agentprocessbench" / "judges"


def explanations(labels: tuple[int, ...]) -> list[tuple[str, str, str]]:
    rows = []
    for path in sorted(JUDGES.glob("*.jsonl")):
        for line in path.open():
            record = json.loads(line)
            steps = (record.get("explanations") or {}).get("steps") or {}
            for ref, label in record["step_labels"].items():
                if label in labels and steps.get(ref):
                    rows.append((path.stem, f"{record['record_id']}:{ref}", steps[ref]))
    return rows


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale(n: int) -> None:
    rows = explanations((-1, 0))
    texts = [f"[{judge}] {text} (record {rid})" for judge, rid, text in rows]
    while len(texts) < n:  # the rest: the same explanations under another criterion name, still distinct texts
        texts += [f"[answer_grounded/{len(texts) // len(rows)}] {t}" for t in texts[: n - len(texts)]]
    texts = texts[:n]
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "c.db") as store:
        started = time.perf_counter()
        embedder = make_embedder()
        vectors = embed_cached(texts, embedder, store)
        embedded = time.perf_counter()
        result = cluster_failures(vectors, texts, threshold=threshold(), min_size=5)
        done = time.perf_counter()
        again_start = time.perf_counter()
        vectors2 = embed_cached(texts, embedder, store)
        cluster_failures(vectors2, texts, threshold=threshold(), min_size=5)
        again = time.perf_counter() - again_start
    print(
        f"scale ({EMBEDDER}, threshold {threshold()}): {n:,} failing steps -> {len(result.clusters)} modes, "
        f"{len(result.outliers) / n:.0%} outliers"
    )
    print(
        f"  first run: {done - started:.1f} s (model load + embedding {embedded - started:.1f} s, clustering {done - embedded:.1f} s), "
        f"peak RSS {peak_rss_mb():,.0f} MB"
    )
    print(f"  re-run with cached embeddings: {again:.1f} s")


def quality() -> None:
    rows = explanations((-1,))
    texts = [text for _, _, text in rows]
    embedder = make_embedder()
    vectors = embedder.encode(texts)
    result = cluster_failures(vectors, texts, threshold=threshold(), min_size=5)
    sil = "-" if result.silhouette is None else f"{result.silhouette:.3f}"
    print(
        f"quality ({EMBEDDER}): {len(texts)} real failing-step explanations from 20 judges -> {len(result.clusters)} modes, "
        f"{len(result.outliers) / len(texts):.1%} outliers, silhouette {sil} (cosine, outliers excluded)"
    )
    if EMBEDDER != "minilm":
        from sklearn.metrics import adjusted_rand_score

        reference = cluster_failures(SentenceTransformerEmbedder().encode(texts), texts, threshold=0.6, min_size=5)
        ours, theirs = labels_of(result, len(texts)), labels_of(reference, len(texts))
        both = (ours >= 0) & (theirs >= 0)
        print(
            f"  agreement with MiniLM's modes on the same texts: adjusted Rand index {adjusted_rand_score(theirs[both], ours[both]):.2f} "
            f"over the {both.sum()} texts both clustered"
        )
    for cluster in sorted(result.clusters, key=lambda c: -len(c.members))[:6]:
        print(f"  {len(cluster.members):4d}  {' / '.join(cluster.keywords[:4])}")
        for i in cluster.medoids[:2]:
            print(f"        e.g. {rows[i][0]}: {texts[i][:150]}")


def labels_of(result, n: int):
    return labels_from_groups([c.members for c in result.clusters], n)


def labels_from_groups(groups, n: int):
    import numpy as np

    labels = np.full(n, -1)
    for c, members in enumerate(groups):
        labels[members] = c
    return labels


def ann(n: int) -> None:
    """All pairs against the approximate index on the same vectors (static embeddings of the scale texts)."""
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    rows = explanations((-1, 0))
    texts = [f"[{judge}] {text} (record {rid})" for judge, rid, text in rows]
    while len(texts) < n:
        texts += [f"[answer_grounded/{len(texts) // len(rows)}] {t}" for t in texts[: n - len(texts)]]
    vectors = make_embedder().encode(texts[:n])
    timings, found = {}, {}
    for name, start in (("all pairs", n + 1), ("approximate index", 1)):
        began = time.perf_counter()
        found[name] = communities(vectors, threshold(), 5, ann_from=start)
        timings[name] = time.perf_counter() - began
    a, b = (labels_from_groups(found[k], n) for k in found)
    print(
        f"ann ({EMBEDDER}, {n:,} vectors): all pairs {timings['all pairs']:.1f} s, {len(found['all pairs'])} communities; "
        f"index {timings['approximate index']:.1f} s, {len(found['approximate index'])} communities; "
        f"adjusted Rand index between them {adjusted_rand_score(a, b):.3f}; same outliers {np.mean((a < 0) == (b < 0)):.1%}"
    )


def cep_known_faults() -> None:
    """Purity and ARI on the bundled CEP traces, where the kind of each fault is known: every failing
    deterministic check names the policy rule the agent broke."""
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    from chainjudge.analysis.modes import failure_text
    from chainjudge.core.checks import run_checks
    from chainjudge.core.rubric import load_rubric
    from chainjudge.core.schema import Trace

    root = Path(__file__).resolve().parents[1]
    rubric = load_rubric(root / "chainjudge" / "packs" / "cep" / "rubrics" / "cep.yaml")
    traces = [
        Trace.model_validate_json(label)
        for label in (root / "chainjudge" / "packs" / "cep" / "traces" / "traces.jsonl").read_text().splitlines()
        if label.strip()
    ]
    by_id = {t.id: t for t in traces}
    failing = [j for j in run_checks(traces, rubric, "bench") if j.passed is False]
    kinds = [j.criterion_id for j in failing]
    embedder = make_embedder()
    print(
        f"CEP known faults ({EMBEDDER}, threshold {threshold()}): {len(failing)} failing checks of {len(set(kinds))} kinds "
        f"{dict(sorted(__import__('collections').Counter(kinds).items()))} "
        f"in {len(traces)} bundled traces"
    )
    for with_step in (True, False):
        texts = [
            failure_text(j.criterion_id, j.verdict.rationale, by_id[j.trace_id].steps[j.step_index].render(), with_step) for j in failing
        ]
        result = cluster_failures(embedder.encode(texts), texts, threshold=threshold(), min_size=3)
        labels = np.full(len(texts), -1)
        for c, cluster in enumerate(result.clusters):
            labels[cluster.members] = c
        clustered = labels >= 0
        purity = sum(max(np.unique([kinds[i] for i in c.members], return_counts=True)[1]) for c in result.clusters) / max(
            1, clustered.sum()
        )
        ari = adjusted_rand_score(np.array(kinds)[clustered], labels[clustered]) if clustered.sum() else float("nan")
        print(
            f"  {'rationale + step' if with_step else 'rationale only'}: {len(result.clusters)} modes, {1 - clustered.mean():.0%} "
            f"outliers, "
            f"purity {purity:.2f}, adjusted Rand index {ari:.2f} (clustered items)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--parts", default="cep,scale,quality", help="which parts to run, comma-separated (and: ann)")
    parser.add_argument("--embedder", choices=["minilm", "static"], default="minilm")
    args = parser.parse_args()
    global EMBEDDER
    EMBEDDER = args.embedder
    parts = set(args.parts.split(","))
    print(f"machine: {machine()}")
    if "cep" in parts:
        cep_known_faults()
    if "scale" in parts:
        scale(args.n)
    if "quality" in parts:
        quality()
    if "ann" in parts:
        ann(args.n)


if __name__ == "__main__":
    main()
