"""Paired comparisons: the t-test and the sign-flip test against scipy and closed forms."""

import math

import numpy as np
import pytest
import scipy.stats

from jaxinit.results import paired


def test_paired_test_matches_scipy_ttest_rel():
  rng = np.random.default_rng(0)
  b = rng.normal(0.97, 0.003, 16)
  a = b + rng.normal(0.001, 0.002, 16)
  out = paired.paired_test(a, b)
  ref = scipy.stats.ttest_rel(a, b)
  assert out["n"] == 16 and out["n_dropped"] == 0
  assert out["t"] == pytest.approx(ref.statistic, rel=1e-12)
  assert out["p_t"] == pytest.approx(ref.pvalue, rel=1e-9)
  lo, hi = scipy.stats.t.interval(0.95, 15, loc=np.mean(a - b), scale=scipy.stats.sem(a - b))
  assert (out["ci95_low"], out["ci95_high"]) == pytest.approx((lo, hi), rel=1e-9)
  assert out["wins"] + out["losses"] + out["ties"] == 16


def test_sign_flip_exact_small_case():
  # d = (1, 2, 3): of the 8 sign patterns, |mean| >= 2 only for all + and all -: p = 2/8
  assert paired.sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(0.25)
  # past EXACT_SIGN_FLIPS pairs it samples: all 17 differences positive and equal have exact p =
  # 2 / 2^17; among 1000 random patterns none is as extreme (odds 1000 / 2^16), so the estimate is
  # its floor, twice the one-sided (0 + 1) / (1000 + 1)
  p = paired.sign_flip_p(np.ones(paired.EXACT_SIGN_FLIPS + 1), draws=1000)
  assert p == pytest.approx(2 / 1001, abs=1e-12)


def test_sign_flip_exact_matches_enumeration_written_here():
  d = np.random.default_rng(1).normal(0.2, 1.0, 9)
  signs = 1 - 2 * (np.arange(2 ** 9)[:, None] >> np.arange(9) & 1)
  means = np.abs(signs @ d) / 9
  assert paired.sign_flip_p(d) == pytest.approx(np.mean(means >= abs(d.mean()) - 1e-12), abs=1e-12)


def test_paired_test_edge_cases():
  same = paired.paired_test([0.5, 0.6], [0.5, 0.6])
  assert math.isnan(same["t"]) and same["p_t"] == 1.0 and same["p_sign_flip"] == 1.0
  shift = paired.paired_test([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
  assert shift["t"] == math.inf and shift["p_t"] == 0.0 and shift["ci95_low"] == 1.0
  dropped = paired.paired_test([1.0, float("nan"), 3.0], [0.0, 1.0, 1.0])
  assert dropped["n"] == 2 and dropped["n_dropped"] == 1
  with pytest.raises(ValueError, match="one value per seed"):
    paired.paired_test([1.0], [1.0, 2.0])
