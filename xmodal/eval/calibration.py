"""Score calibration and the measures that depend on it: actual DCF, Cllr and minCllr.

Pure numpy/scipy/scikit-learn, no I/O. Conventions as in ``metrics``: ``labels`` are booleans
(or 0/1) with True meaning a target trial, and optional ``weights`` (one non-negative number
per trial) make a trial of weight w count as w repeated trials.

A calibrated score is a log-likelihood ratio (LLR, natural log): ``log p(score | target) -
log p(score | nontarget)``. Bayes decisions then need no tuning: at effective prior p (costs
c_miss, c_fa) the best threshold is ``log(c_fa (1 - p) / (c_miss p))`` whatever the system.

- ``fit_calibration``: the linear map ``llr = scale * score + offset`` trained by
  prior-weighted logistic regression (Brümmer's linear calibration, BOSARIS
  ``train_linear_calibration``).
- ``actual_dcf``: the NIST detection cost of those Bayes decisions, normalised by the cost
  of the better trivial system as ``metrics.compute_min_dcf`` is. minDCF picks the best
  threshold with the labels in hand; actual DCF uses the one the LLRs imply, so
  ``actual - min`` is what miscalibration costs at that operating point.
- ``cllr``: the log-likelihood-ratio cost (Brümmer & du Preez 2006; BOSARIS ``cllr``),
  ``0.5 / log 2 * (mean_t log(1 + e^-llr) + mean_n log(1 + e^llr))``, in bits. It averages
  the cost of Bayes decisions over all operating points: 0 for perfect, confident LLRs; 1 for
  the useless LLR 0 on every trial; unbounded for confident wrong ones.
- ``min_cllr``: the Cllr of the best LLRs any monotone (order-preserving) map of the scores
  can give (BOSARIS ``min_cllr``): the pool-adjacent-violators (PAV) fit of the labels on the
  scores gives the target posterior of each score, and posterior log-odds minus prior
  log-odds is that score's optimal LLR. It depends only on the order of the scores, so like
  EER and minDCF it needs no calibration: scores and LLRs give the same value, and ``cllr -
  min_cllr`` is the calibration loss. It is slightly optimistic, as PAV fits the test labels.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from math import isfinite, log
from numbers import Real

import numpy as np

from xmodal.eval.metrics import MINDCF_P_TARGETS, scores_and_labels

# (key in calibration_metrics, p_target): the minDCF operating points, as actual DCFs.
ACTDCF_P_TARGETS = tuple((key.replace("mindcf_", "actdcf_"), p_target)
                         for key, p_target in MINDCF_P_TARGETS)
# Keys of calibration_metrics, in its order.
CALIBRATION_KEYS = (*(key for key, _ in ACTDCF_P_TARGETS), "cllr", "min_cllr")


def _check_p_target(p_target: float) -> None:
    """An effective prior must lie strictly between 0 and 1."""
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")


def _log_odds(p: float) -> float:
    """``log(p / (1 - p))``."""
    return log(p) - log(1.0 - p)


def _check_trials(values, labels, weights, allow_infinite: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Values as float64 and labels as bool, 1-D and of one length, with both classes weighing
    more than 0; weights (if given) finite, non-negative, one per trial."""
    values, labels = scores_and_labels(values, labels)
    if np.isnan(values).any() or not (allow_infinite or np.isfinite(values).all()):
        raise ValueError(f"scores contain NaN{'' if allow_infinite else ' or infinity'}")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != labels.shape:
            raise ValueError(f"weights of shape {weights.shape} for {len(labels)} trials")
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("weights must be finite and non-negative")
    for name, members in (("target", labels), ("nontarget", ~labels)):
        if not (members.any() if weights is None else weights[members].sum() > 0):
            raise ValueError(f"need both target and nontarget trials: the {name} trials are "
                             f"{'absent' if not members.any() else 'of zero total weight'}")
    return values, labels, weights


def _class_mean(values: np.ndarray, members: np.ndarray, weights: np.ndarray | None) -> float:
    """The (weighted) mean of ``values`` over ``members``, skipping weight-0 trials so that an
    infinite value counted zero times adds 0, not NaN."""
    if weights is None:
        return float(values[members].mean())
    counted = members & (weights > 0)
    return float(np.dot(weights[counted], values[counted]) / weights[counted].sum())


@dataclass(frozen=True)
class Calibration:
    """The linear map ``llr = scale * score + offset`` (natural log), trained at ``p_target``.

    ``scale`` must be positive (a higher score means more target-like) and every field finite.
    """

    scale: float
    offset: float
    p_target: float

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, Real) or not isfinite(value):
                raise ValueError(f"calibration {field.name} must be a finite number, got "
                                 f"{value!r}")
        if not self.scale > 0:
            raise ValueError(f"calibration scale must be > 0, got {self.scale}")
        _check_p_target(self.p_target)

    def llr(self, scores) -> np.ndarray:
        """The log-likelihood ratios of raw ``scores``."""
        return self.scale * np.asarray(scores, dtype=np.float64) + self.offset

    @property
    def threshold_llr(self) -> float:
        """The Bayes decision threshold at ``p_target`` with c_miss = c_fa = 1:
        ``log((1 - p_target) / p_target)``; accept when the LLR is at or above it."""
        return -_log_odds(self.p_target)

    @property
    def threshold_score(self) -> float:
        """The raw score whose LLR is ``threshold_llr``."""
        return (self.threshold_llr - self.offset) / self.scale

    def to_dict(self) -> dict[str, float]:
        """``scale``, ``offset`` and ``p_target``, for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        """The calibration ``to_dict`` gave; a missing or extra key, a non-finite value or a
        scale <= 0 is a ValueError naming it."""
        expected = [field.name for field in fields(cls)]
        missing = [key for key in expected if key not in d]
        extra = sorted(str(key) for key in d if key not in expected)
        if missing or extra:
            raise ValueError(f"calibration needs keys {expected}: "
                             + "; ".join([f"missing {missing}"] * bool(missing)
                                         + [f"unexpected {extra}"] * bool(extra)))
        return cls(**{key: d[key] for key in expected})


def fit_calibration(scores, labels, p_target: float = 0.05) -> Calibration:
    """Train ``llr = scale * score + offset`` by prior-weighted logistic regression.

    Minimises over (a, b), with ``x = a s + b + logit(p_target)`` (the posterior log-odds):
    ``p/N_t sum_t log(1 + e^-x_t) + (1-p)/N_n sum_n log(1 + e^x_n)``, i.e. the Cllr at
    effective prior ``p_target`` (Brümmer's linear calibration, BOSARIS
    ``train_linear_calibration``); the LLR is then ``a s + b``. When the scores are a
    linear function of the true LLR, any ``p_target`` recovers that same map; otherwise the
    map is best near ``p_target``'s operating point. Perfectly separated scores have no
    finite optimum: the fit stops at a steep map once the cost is negligible.

    Raises ValueError for fewer than 2 trials of a class, non-finite scores, a
    ``p_target`` outside (0, 1), or scores that do not rank targets above nontargets
    (fitted scale <= 0); RuntimeError if the optimiser does not converge.
    """
    # Imported here: scipy.optimize adds 0.4 s to the start of every process that imports
    # the metrics, and only fitting needs it.
    from scipy.optimize import minimize

    _check_p_target(p_target)
    scores, labels, _ = _check_trials(scores, labels, None, allow_infinite=False)
    n_target = int(np.count_nonzero(labels))
    if min(n_target, len(labels) - n_target) < 2:
        raise ValueError(f"need at least 2 target and 2 nontarget trials, got {n_target} "
                         f"and {len(labels) - n_target}")
    # Fit on standardised scores: the problem is then equally well conditioned whatever
    # the score range, and a positive affine change of the scores changes nothing.
    mean, spread = scores.mean(), scores.std()
    if spread == 0:
        raise ValueError("the scores do not separate targets from nontargets: all are equal")
    z = (scores - mean) / spread
    z_target, z_nontarget = z[labels], z[~labels]
    w_target, w_nontarget = p_target / len(z_target), (1.0 - p_target) / len(z_nontarget)
    prior_log_odds = _log_odds(p_target)

    def cost_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = theta
        x_target = a * z_target + b + prior_log_odds
        x_nontarget = a * z_nontarget + b + prior_log_odds
        cost = (w_target * np.logaddexp(0.0, -x_target).sum()
                + w_nontarget * np.logaddexp(0.0, x_nontarget).sum())
        # d/dx log(1 + e^-x) = -sigmoid(-x) and d/dx log(1 + e^x) = sigmoid(x), with
        # sigmoid(v) = exp(-log(1 + e^-v)): no overflow either way.
        d_target = -w_target * np.exp(-np.logaddexp(0.0, x_target))
        d_nontarget = w_nontarget * np.exp(-np.logaddexp(0.0, -x_nontarget))
        gradient = np.array([d_target @ z_target + d_nontarget @ z_nontarget,
                             d_target.sum() + d_nontarget.sum()])
        return float(cost), gradient

    fit = minimize(cost_and_gradient, np.zeros(2), jac=True, method="L-BFGS-B",
                   options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 1000})
    if not fit.success:
        raise RuntimeError(f"calibration fit did not converge: {fit.message}")
    a, b = (float(v) for v in fit.x)
    if not a > 0:
        raise ValueError(f"the scores do not separate targets from nontargets: the fitted "
                         f"calibration scale is {a / spread:.4g} (targets must score higher)")
    return Calibration(scale=float(a / spread), offset=float(b - a * mean / spread),
                       p_target=p_target)


def cllr(llrs, labels, weights=None) -> float:
    """Log-likelihood-ratio cost in bits (BOSARIS ``cllr``).

    ``0.5 / log 2 * (mean_t log(1 + e^-llr_t) + mean_n log(1 + e^llr_n))``, each mean over
    its class (weighted by ``weights``). Infinite LLRs are allowed: a right one costs 0, a
    wrong one makes the cost infinite. NaN is a ValueError.
    """
    llrs, labels, weights = _check_trials(llrs, labels, weights, allow_infinite=True)
    # log(1 + e^v) as logaddexp(0, v): no overflow, exact for v = +-inf.
    cost = np.logaddexp(0.0, np.where(labels, -llrs, llrs))
    return 0.5 / log(2.0) * (_class_mean(cost, labels, weights)
                             + _class_mean(cost, ~labels, weights))


def _pav_llrs(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The optimal monotone LLR of each distinct score (those of weight > 0), with the
    target and nontarget weight at each."""
    # Imported here: scikit-learn adds 0.5 s to the start of every process that imports the
    # metrics; its PAV is compiled, which the bootstrap's one fit per replicate needs.
    from sklearn.isotonic import isotonic_regression

    if weights is not None:
        # A weight-0 trial counts 0 times: it must not take part in the fit either.
        counted = weights > 0
        scores, labels, weights = scores[counted], labels[counted], weights[counted]
    else:
        weights = np.ones(len(scores))
    # Tied scores must share one LLR, so pool them explicitly: one point per distinct
    # score, weighing its trials' total, at the fraction of that weight that is target.
    # (np.unique also sorts, which is all the order PAV needs: +-inf scores are fine.)
    _, value = np.unique(scores, return_inverse=True)
    target = np.bincount(value, weights=np.where(labels, weights, 0.0))
    total = np.bincount(value, weights=weights)
    posterior = isotonic_regression(target / total, sample_weight=total, increasing=True)
    prior = target.sum() / total.sum()
    # A pure block has posterior exactly 0 or 1 (a mean of equal values): LLR -+inf.
    with np.errstate(divide="ignore"):
        llrs = np.log(posterior) - np.log1p(-posterior) - (np.log(prior) - np.log1p(-prior))
    return llrs, target, total - target


def min_cllr(scores, labels, weights=None) -> float:
    """Cllr (bits) after the best monotone map of the scores to LLRs (BOSARIS ``min_cllr``).

    The map is the pool-adjacent-violators fit of the labels on the scores (tied scores
    pooled, ``weights`` as sample weights), read as target posteriors and turned into
    ``logit(posterior) - logit(prior)`` with the prior the (weighted) fraction of targets.
    Depends only on the order of the scores (which may be +-inf, not NaN): 0 for separable
    classes, 1 when the scores carry no information, at most the ``cllr`` of any
    monotone function of the scores.
    """
    scores, labels, weights = _check_trials(scores, labels, weights, allow_infinite=True)
    llrs, target, nontarget = _pav_llrs(scores, labels, weights)
    # Each distinct score's LLR costs as its trials would, weighted by their total.
    # A pure block's infinite LLR is right for all its trials, so its cost is 0 (the wrong
    # class has weight 0 there: mask it rather than multiply 0 by inf).
    target_cost = np.logaddexp(0.0, -llrs[target > 0]) @ target[target > 0]
    nontarget_cost = np.logaddexp(0.0, llrs[nontarget > 0]) @ nontarget[nontarget > 0]
    return float(0.5 / log(2.0) * (target_cost / target.sum()
                                   + nontarget_cost / nontarget.sum()))


def actual_dcf(llrs, labels, p_target: float, c_miss: float = 1.0, c_fa: float = 1.0,
               weights=None) -> float:
    """Normalised actual DCF of the Bayes decisions the LLRs imply.

    Accepts a trial when its LLR is at or above ``log(c_fa (1 - p) / (c_miss p))``; returns
    ``(c_miss p P_miss + c_fa (1 - p) P_fa) / min(c_miss p, c_fa (1 - p))`` with ``p =
    p_target`` and (weighted) error rates, the normalisation of ``metrics.compute_min_dcf``.
    It is at least the minDCF of the same trials; more means miscalibration.
    """
    _check_p_target(p_target)
    if c_miss <= 0 or c_fa <= 0:
        raise ValueError(f"costs must be positive, got c_miss={c_miss}, c_fa={c_fa}")
    llrs, labels, weights = _check_trials(llrs, labels, weights, allow_infinite=True)
    accepted = llrs >= log(c_fa * (1.0 - p_target) / (c_miss * p_target))
    errors = (~accepted).astype(np.float64)
    p_miss = _class_mean(errors, labels, weights)
    p_fa = _class_mean(1.0 - errors, ~labels, weights)
    return ((c_miss * p_target * p_miss + c_fa * (1.0 - p_target) * p_fa)
            / min(c_miss * p_target, c_fa * (1.0 - p_target)))


def calibration_metrics(llrs, labels, weights=None) -> dict[str, float]:
    """Actual DCF at each ``metrics.MINDCF_P_TARGETS`` prior (c_miss = c_fa = 1; keys
    ``actdcf_p0.01``, ``actdcf_p0.05``), ``cllr`` and ``min_cllr`` of LLRs (bits)."""
    llrs, labels, weights = _check_trials(llrs, labels, weights, allow_infinite=True)
    result = {key: actual_dcf(llrs, labels, p_target, weights=weights)
              for key, p_target in ACTDCF_P_TARGETS}
    result["cllr"] = cllr(llrs, labels, weights)
    result["min_cllr"] = min_cllr(llrs, labels, weights)
    return result
