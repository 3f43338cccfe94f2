"""Agreement statistics at scale: 1,000,000 label pairs (a reference and 4 annotators on 250,000 steps in
25,000 traces) with 1,000 bootstrap resamples of traces each, plus Krippendorff's alpha over all 5.

    python bench/agreement.py [--items 250000] [--bootstrap 1000] [--repeats 3]

Prints the median time of the statistics (labels already in memory) and, separately, the time to build
the label objects.  Target: under 10 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, median  # noqa: E402

from chainjudge.analysis.calibrate import agreement, krippendorff_alpha  # noqa: E402
from chainjudge.core.schema import Label  # noqa: E402

VALUES = ["error", "neutral", "correct"]


def make_labels(items: int, annotators: int, seed: int = 0) -> list[list[Label]]:
    rng = np.random.default_rng(seed)
    truth = rng.choice(3, size=items, p=[0.25, 0.07, 0.68])
    out = []
    for a in range(annotators):
        noisy = np.where(rng.random(items) < 0.75, truth, rng.integers(0, 3, items)) if a else truth
        out.append(
            [
                Label.model_construct(
                    trace_id=f"t{i // 10}",
                    step_ref=str(i % 10),
                    step_index=None,
                    criterion="step",
                    value=VALUES[v],
                    annotator=f"a{a}",
                    kind="judge",
                )
                for i, v in enumerate(noisy)
            ]
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=250_000)
    parser.add_argument("--annotators", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    annotators = make_labels(args.items, args.annotators)
    build = time.perf_counter() - started
    reference, others = annotators[0], annotators[1:]
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        reports = [agreement(reference, o, "a0", o[0].annotator, "step", order=VALUES, bootstrap=args.bootstrap) for o in others]
        codes = np.array([[VALUES.index(label.value) for label in ann] for ann in annotators], dtype=float)
        alpha = krippendorff_alpha(codes, "nominal")
        times.append(time.perf_counter() - t0)
    pairs = args.items * len(others)
    print(f"machine: {machine()}")
    print(
        f"label pairs: {pairs:,} ({args.annotators} annotators x {args.items:,} steps in {args.items // 10:,} traces), "
        f"{args.bootstrap} bootstrap resamples per comparison"
    )
    print(f"statistics time (median of {args.repeats}): {median(times):.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"building the label objects: {build:.2f} s (not included above)")
    print(
        f"check: step accuracy a1 vs a0 = {reports[0].step_accuracy.value:.3f} "
        f"[{reports[0].step_accuracy.low:.3f}, {reports[0].step_accuracy.high:.3f}], alpha over all = {alpha:.3f}"
    )


if __name__ == "__main__":
    main()
