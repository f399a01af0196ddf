"""Clustering quality against gold labels: NMI, pairwise P/R/F1, BCubed P/R/F1."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PRF:
    """Precision, recall and their harmonic mean."""

    precision: float
    recall: float
    f1: float


def _prf(precision: float, recall: float) -> PRF:
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return PRF(precision, recall, f1)


def _check(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    if not gold:
        raise ValueError("no items to score")


def score_nmi(gold: Sequence[Hashable], pred: Sequence[Hashable], average: str = "geometric") -> float:
    """Normalised mutual information; ``geometric`` is I/sqrt(H(G)H(P)), ``arithmetic`` 2I/(H(G)+H(P)).

    Yin & Wang (KDD 2014, the GSDMM paper whose NMI the MStream paper reuses) normalise by
    the geometric mean; scikit-learn's default since 0.22 is the arithmetic mean, which
    is never higher. Both are offered so neither reading flatters us.
    """
    _check(gold, pred)
    n = len(gold)
    gold_counts = Counter(gold)
    pred_counts = Counter(pred)
    joint = Counter(zip(gold, pred, strict=True))
    mi = sum(c / n * math.log(n * c / (gold_counts[g] * pred_counts[p])) for (g, p), c in joint.items())
    h_gold = -sum(c / n * math.log(c / n) for c in gold_counts.values())
    h_pred = -sum(c / n * math.log(c / n) for c in pred_counts.values())
    if h_gold == 0 or h_pred == 0:
        return 1.0 if h_gold == h_pred else 0.0
    if average == "geometric":
        return mi / math.sqrt(h_gold * h_pred)
    if average == "arithmetic":
        return 2 * mi / (h_gold + h_pred)
    raise ValueError(f"unknown average {average!r}")


def score_pairwise(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> PRF:
    """Pair-counting precision/recall/F1 (the metric of Miranda et al. 2018's eval script)."""
    _check(gold, pred)

    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    tp = sum(pairs(c) for c in Counter(zip(gold, pred, strict=True)).values())
    pred_pairs = sum(pairs(c) for c in Counter(pred).values())
    gold_pairs = sum(pairs(c) for c in Counter(gold).values())
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / gold_pairs if gold_pairs else 1.0
    return _prf(precision, recall)


def score_bcubed(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> PRF:
    """BCubed precision/recall/F1 (Bagga & Baldwin 1998), averaged over items."""
    _check(gold, pred)
    n = len(gold)
    gold_counts = Counter(gold)
    pred_counts = Counter(pred)
    joint = Counter(zip(gold, pred, strict=True))
    # Each of the c items in cell (g, p) has precision c/|p| and recall c/|g|.
    precision = sum(c * c / pred_counts[p] for (g, p), c in joint.items()) / n
    recall = sum(c * c / gold_counts[g] for (g, p), c in joint.items()) / n
    return _prf(precision, recall)
