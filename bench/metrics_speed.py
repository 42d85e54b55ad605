"""Metric speed on 10 million scores: our EER + two minDCFs against sklearn's ROC-based EER.

Usage: python -m bench.metrics_speed [--n 10000000] [--seed 0] [--decimals 6]
Scores are rounded to the 6 decimals score files hold, so ties occur as they do in practice.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import roc_curve

from xmodal.eval.metrics import compute_eer, compute_min_dcf, metrics_dict


def sklearn_eer(scores: np.ndarray, labels: np.ndarray) -> float:
    """The usual recipe: ROC from sklearn, EER at the first point where fnr <= fpr."""
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    i = int(np.argmax(fnr <= fpr))
    return 100.0 * float((fpr[i] + fnr[i]) / 2)


def timed(fn, *args, repeats: int = 3):
    """Result and best wall time of ``repeats`` runs (the machine may be shared)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    return out, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decimals", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    labels = rng.random(args.n) < 0.1
    scores = np.round(rng.normal(size=args.n) + 2.0 * labels, args.decimals)
    print(f"{args.n} scores ({labels.sum()} target), {len(np.unique(scores))} distinct values")

    def ours():
        return (compute_eer(scores, labels), compute_min_dcf(scores, labels, 0.01),
                compute_min_dcf(scores, labels, 0.05))

    (eer, dcf1, dcf5), t_ours = timed(ours, repeats=args.repeats)
    combined, t_combined = timed(metrics_dict, scores, labels, repeats=args.repeats)
    sk_eer, t_sklearn = timed(sklearn_eer, scores, labels, repeats=args.repeats)
    print(f"ours: compute_eer + 2 x compute_min_dcf: {t_ours:.2f} s "
          f"(EER {eer:.4f}%, minDCF p0.01 {dcf1:.4f}, p0.05 {dcf5:.4f})")
    print(f"ours: metrics_dict (same three numbers, one DET curve): {t_combined:.2f} s "
          f"(EER {combined['eer']:.4f}%)")
    print(f"sklearn: roc_curve-based EER only: {t_sklearn:.2f} s (EER {sk_eer:.4f}%)")
    print(f"ratio sklearn / ours: {t_sklearn / t_ours:.2f}x (three separate calls), "
          f"{t_sklearn / t_combined:.2f}x (metrics_dict)")


if __name__ == "__main__":
    main()
