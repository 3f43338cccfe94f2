"""Failure clustering at scale and on real judge rationales.

1. 10,000 failing steps embedded (all-MiniLM-L6-v2, CPU) and clustered: time and peak memory (RSS), then
   a re-run with the embeddings cached in the store.  The texts are real: the per-step explanations the
   20 AgentProcessBench judges wrote for the steps they marked as errors or neutral, each prefixed with
   its judge and record so 10,000 distinct texts exist (the judges wrote ~2,300 distinct ones).
2. Quality on the real failing-step explanations alone (steps judged -1): number of modes, outlier
   share, silhouette (cosine), and the top modes with their exemplars.

    python bench/cluster.py [--n 10000]
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

from chainjudge.analysis.cluster import cluster_failures  # noqa: E402
from chainjudge.analysis.embed import SentenceTransformerEmbedder, embed_cached  # noqa: E402
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
        embedder = SentenceTransformerEmbedder()
        vectors = embed_cached(texts, embedder, store)
        embedded = time.perf_counter()
        result = cluster_failures(vectors, texts, threshold=0.6, min_size=5)
        done = time.perf_counter()
        again_start = time.perf_counter()
        vectors2 = embed_cached(texts, embedder, store)
        cluster_failures(vectors2, texts, threshold=0.6, min_size=5)
        again = time.perf_counter() - again_start
    print(f"scale: {n:,} failing steps -> {len(result.clusters)} modes, {len(result.outliers) / n:.0%} outliers")
    print(f"  first run: {done - started:.1f} s (model load + embedding {embedded - started:.1f} s, clustering {done - embedded:.1f} s), "
          f"peak RSS {peak_rss_mb():,.0f} MB")
    print(f"  re-run with cached embeddings: {again:.1f} s")


def quality() -> None:
    rows = explanations((-1,))
    texts = [text for _, _, text in rows]
    embedder = SentenceTransformerEmbedder()
    vectors = embedder.encode(texts)
    result = cluster_failures(vectors, texts, threshold=0.6, min_size=5)
    sil = "-" if result.silhouette is None else f"{result.silhouette:.3f}"
    print(f"quality: {len(texts)} real failing-step explanations from 20 judges -> {len(result.clusters)} modes, "
          f"{len(result.outliers) / len(texts):.1%} outliers, silhouette {sil} (cosine, outliers excluded)")
    for cluster in sorted(result.clusters, key=lambda c: -len(c.members))[:6]:
        print(f"  {len(cluster.members):4d}  {' / '.join(cluster.keywords[:4])}")
        for i in cluster.medoids[:2]:
            print(f"        e.g. {rows[i][0]}: {texts[i][:150]}")


def cep_known_faults() -> None:
    """Purity and ARI on the bundled CEP traces, where the kind of each fault is known: every failing
    deterministic check names the policy rule the agent broke."""
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    from chainjudge.core.checks import run_checks
    from chainjudge.analysis.modes import failure_text
    from chainjudge.core.rubric import load_rubric
    from chainjudge.core.schema import Trace

    root = Path(__file__).resolve().parents[1]
    rubric = load_rubric(root / "rubrics" / "cep" / "cep.yaml")
    traces = [Trace.model_validate_json(l) for l in (root / "traces" / "cep" / "traces.jsonl").read_text().splitlines() if l.strip()]
    by_id = {t.id: t for t in traces}
    failing = [j for j in run_checks(traces, rubric, "bench") if j.passed is False]
    kinds = [j.criterion_id for j in failing]
    embedder = SentenceTransformerEmbedder()
    print(f"CEP known faults: {len(failing)} failing checks of {len(set(kinds))} kinds {dict(sorted(__import__('collections').Counter(kinds).items()))} "
          f"in {len(traces)} bundled traces")
    for with_step in (True, False):
        texts = [failure_text(j.criterion_id, j.verdict.rationale, by_id[j.trace_id].steps[j.step_index].render(), with_step) for j in failing]
        result = cluster_failures(embedder.encode(texts), texts, threshold=0.6, min_size=3)
        labels = np.full(len(texts), -1)
        for c, cluster in enumerate(result.clusters):
            labels[cluster.members] = c
        clustered = labels >= 0
        purity = sum(max(np.unique([kinds[i] for i in c.members], return_counts=True)[1]) for c in result.clusters) / max(1, clustered.sum())
        ari = adjusted_rand_score(np.array(kinds)[clustered], labels[clustered]) if clustered.sum() else float("nan")
        print(f"  {'rationale + step' if with_step else 'rationale only'}: {len(result.clusters)} modes, {1 - clustered.mean():.0%} outliers, "
              f"purity {purity:.2f}, adjusted Rand index {ari:.2f} (clustered items)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--parts", default="cep,scale,quality", help="which parts to run, comma-separated")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    print(f"machine: {machine()}")
    if "cep" in parts:
        cep_known_faults()
    if "scale" in parts:
        scale(args.n)
    if "quality" in parts:
        quality()


if __name__ == "__main__":
    main()
