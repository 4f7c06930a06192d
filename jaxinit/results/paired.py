"""Paired comparisons of two schemes on the same seeds (common random numbers).

Two members with the same seed draw their initial parameters from the same random numbers
(:mod:`jaxinit.engine.population`) and, with a shared minibatch order, see the same batches, so the
per-seed difference of a metric removes the seed-to-seed spread both share. :func:`paired_test`
reduces the differences to their mean, a Student-t 95% confidence interval, the paired t-test's
two-sided p-value (:func:`scipy.stats.ttest_rel`) and a sign-flip permutation p-value
(:func:`scipy.stats.permutation_test`, exact up to :data:`EXACT_SIGN_FLIPS` pairs). A table of
several such tests reports them corrected (:func:`jaxinit.results.stats.adjust_p`, Holm).

    >>> out = paired_test([0.98, 0.97, 0.99, 0.98], [0.97, 0.97, 0.98, 0.97])
    >>> out["n"], round(out["mean"], 4), out["wins"], out["ties"]
    (4, 0.0075, 3, 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.stats

from jaxinit.results.stats import ci95_factor

__all__ = ["sign_flip_p", "paired_test", "EXACT_SIGN_FLIPS"]

EXACT_SIGN_FLIPS = 16
"""Up to this many pairs the sign-flip test enumerates all ``2^n`` sign patterns (exact)."""


def sign_flip_p(diff: Sequence[float] | np.ndarray, draws: int = 2 ** 16, seed: int = 0) -> float:
  """The two-sided sign-flip permutation p-value of the mean of paired differences.

  Under the null (the two schemes are exchangeable within a pair) each difference's sign is a fair
  coin; the p-value is the share of sign patterns whose ``|mean|`` is at least the observed one
  (the observed pattern included): :func:`scipy.stats.permutation_test` with one sample and
  ``permutation_type="samples"`` (which flips signs). Exact (all ``2^n`` patterns) for ``n <=``
  :data:`EXACT_SIGN_FLIPS`, else ``draws`` random patterns seeded by ``seed``: then scipy's
  two-sided estimate, twice the smaller one-sided ``(k + 1) / (draws + 1)`` (``k`` the patterns at
  least as extreme on that side; never below ``2 / (draws + 1)``).

  Args:
    diff: the per-pair differences, shape ``(n,)``, finite, ``n >= 1``.
    draws: random patterns when not exact.
    seed: their seed.

  Returns:
    The p-value in ``(0, 1]``; 1.0 when every difference is zero.

  Raises:
    ValueError: an empty or non-finite ``diff``.
  """
  d = np.asarray(diff, np.float64).ravel()
  if d.size == 0 or not np.all(np.isfinite(d)):
    raise ValueError(f"sign_flip_p needs finite differences; got {d.size} values, some non-finite or "
                     "none")
  if not np.any(d):
    return 1.0
  exact = d.size <= EXACT_SIGN_FLIPS
  test = scipy.stats.permutation_test((d,), np.mean, permutation_type="samples", vectorized=True,
                                      n_resamples=np.inf if exact else draws,
                                      alternative="two-sided", rng=seed)
  return float(test.pvalue)


def paired_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> dict[str, Any]:
  """Compares ``a`` with ``b`` pair by pair (same seeds, same order): statistics of ``a - b``.

  Args:
    a, b: one value per seed, shape ``(n,)`` each; pair ``i`` is seed ``i`` under both schemes.
      Pairs where either value is not finite (a diverged member) are dropped and counted.

  Returns:
    ``n`` (pairs kept), ``n_dropped``, ``mean`` (mean of ``a - b``), ``std`` (sample std, ddof 1),
    ``ci95_low`` and ``ci95_high`` (``mean -+ t_{0.975, n-1} std / sqrt(n)``), ``t`` (``mean /
    (std / sqrt n)``), ``p_t`` (the paired t-test's two-sided p-value), ``p_sign_flip``
    (:func:`sign_flip_p`), ``wins``, ``losses``, ``ties`` (pairs with ``a > b``, ``<``, ``==``).
    Where ``n < 2`` the std, interval, t and ``p_t`` are NaN; where every difference is zero, t is
    NaN and both p-values 1.0.

  Raises:
    ValueError: ``a`` and ``b`` of different lengths, or no pair left.
  """
  a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
  if a.shape != b.shape:
    raise ValueError(f"paired_test needs one value per seed in both: got {a.size} and {b.size}")
  keep = np.isfinite(a) & np.isfinite(b)
  d = a[keep] - b[keep]
  n = int(d.size)
  if n == 0:
    raise ValueError("paired_test: no pair with both values finite; accepted: at least one")
  mean = float(d.mean())
  out: dict[str, Any] = {"n": n, "n_dropped": int(a.size - n), "mean": mean, "std": math.nan,
                         "ci95_low": math.nan, "ci95_high": math.nan, "t": math.nan,
                         "p_t": math.nan, "p_sign_flip": sign_flip_p(d),
                         "wins": int(np.sum(d > 0)), "losses": int(np.sum(d < 0)),
                         "ties": int(np.sum(d == 0))}
  if n >= 2:
    std = float(d.std(ddof=1))
    half = ci95_factor(n) * std
    out.update(std=std, ci95_low=mean - half, ci95_high=mean + half)
    if std > 0:
      test = scipy.stats.ttest_rel(a[keep], b[keep])
      out.update(t=float(test.statistic), p_t=float(test.pvalue))
    elif mean == 0:
      out["p_t"] = 1.0
    else:  # every difference equal and non-zero: infinitely significant
      out.update(t=math.copysign(math.inf, mean), p_t=0.0)
  return out
