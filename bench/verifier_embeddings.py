"""Do text-embedding features help the verifier?  Measured, not assumed (AgentProcessBench HotPotQA).

On the tune side of the same question-grouped split as bench/verifier.py, the verifier's trace features are
compared with the same plus cosine similarities from the sentence-transformers model chainjudge already uses
(all-MiniLM-L6-v2): step vs question, tool result vs question, step vs earlier tool results, result vs step
(and, with reference features, step and result vs the reference answer).  Printed: out-of-fold kappa
(whole questions held out) without and with them, the 5th percentile of the paired gain over resamples of
questions (the rule `verifier train` uses to keep extra features: above 0), and the embedding time.  The
test split is not looked at.

    .venv/bin/python bench/verifier_embeddings.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine  # noqa: E402
from sklearn.metrics import cohen_kappa_score as cohen_kappa  # noqa: E402
from verifier import prepare  # noqa: E402

from chainjudge.analysis.verifier import Row, kappa_gain_low, out_of_fold_fails  # noqa: E402
from chainjudge.analysis.verifier_features import _question, _result_of, reference_answers  # noqa: E402
from chainjudge.core.schema import StepKind  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.workflows import verifier as workflow  # noqa: E402
from chainjudge.workflows.embed import SentenceTransformerEmbedder  # noqa: E402


def texts_of(store: Store, gathered) -> list[tuple[str, str, str, str, str]]:
    """(step, question, its tool result, earlier tool results, reference answer) per labelled step."""
    out = []
    for label in gathered.labels:
        trace = store.get_trace(label.trace_id)
        step = workflow._find_step(trace, label)
        result = _result_of(trace, step) if step.kind is StepKind.tool_call else ""
        earlier = " ".join(s.text[:2000] for s in trace.steps[: step.index] if s.kind is StepKind.tool_result)[-4000:]
        out.append((step.render()[:4000], _question(trace), result[:4000], earlier, " ".join(reference_answers(trace))))
    return out


def cosine(vectors: dict, a: str, b: str) -> float:
    """Cosine of two texts' (normalised) embeddings; 0 when either is empty."""
    return float(np.dot(vectors[a], vectors[b])) if a and b else 0.0


def main() -> None:
    print(f"machine: {machine()}")
    embedder = SentenceTransformerEmbedder()
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "v.db") as store:
        prepare(store, 7, 0.3)
        for reference in (False, True):
            gathered = workflow.gather(store, "step", "tune", reference, ["error"])
            parts = texts_of(store, gathered)
            unique = sorted({t for p in parts for t in p if t})
            started = time.perf_counter()
            vectors = dict(zip(unique, embedder.encode(unique), strict=True))
            seconds = time.perf_counter() - started

            extra = [
                [cosine(vectors, s, q), cosine(vectors, r, q), cosine(vectors, s, e), cosine(vectors, r, s)]
                + ([cosine(vectors, s, ref), cosine(vectors, r, ref)] if reference else [])
                for s, q, r, e, ref in parts
            ]
            more = [Row(row.features + e, row.fails, row.group, row.item) for row, e in zip(gathered.rows, extra, strict=True)]
            y = np.array([r.fails for r in gathered.rows])
            before, after = out_of_fold_fails(gathered.rows, 0), out_of_fold_fails(more, 0)
            low = kappa_gain_low(y, before, after, [r.group for r in gathered.rows], 0)
            print(
                f"{'with' if reference else 'without'} reference features: {len(gathered.rows)} tune steps; out-of-fold kappa "
                f"{cohen_kappa(y, before):.3f} -> {cohen_kappa(y, after):.3f} with embedding similarities "
                f"(gain 5th percentile {low:.3f}: {'kept' if low is not None and low > 0 else 'not kept'}); "
                f"{len(unique)} texts embedded in {seconds:.1f} s"
            )


if __name__ == "__main__":
    main()
