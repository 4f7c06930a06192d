"""Paired comparisons: the t-test and the sign-flip test against scipy and closed forms."""

import math

import numpy as np
import pytest
import scipy.stats

from jaxinit.results import paired


@pytest.mark.parametrize("t, df", [(0.3, 3), (2.0, 15), (-4.5, 15), (12.0, 7), (40.0, 15)])
def test_t_two_sided_p_matches_scipy(t, df):
  assert paired.t_two_sided_p(t, df) == pytest.approx(2 * scipy.stats.t.sf(abs(t), df), rel=1e-9)


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
  # the random version (more pairs than EXACT_SIGN_FLIPS) agrees with the exact p of a same-size
  # pattern: all 17 differences positive and equal gives p = 2 / 2^17, estimated with +1 smoothing
  p = paired.sign_flip_p(np.ones(paired.EXACT_SIGN_FLIPS + 1), draws=1000)
  assert p == pytest.approx(1 / 1001, abs=1e-9)  # the observed pattern alone: (1 + 0) / (1000 + 1)


def test_paired_test_edge_cases():
  same = paired.paired_test([0.5, 0.6], [0.5, 0.6])
  assert math.isnan(same["t"]) and same["p_t"] == 1.0 and same["p_sign_flip"] == 1.0
  shift = paired.paired_test([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
  assert shift["t"] == math.inf and shift["p_t"] == 0.0 and shift["ci95_low"] == 1.0
  dropped = paired.paired_test([1.0, float("nan"), 3.0], [0.0, 1.0, 1.0])
  assert dropped["n"] == 2 and dropped["n_dropped"] == 1
  with pytest.raises(ValueError, match="one value per seed"):
    paired.paired_test([1.0], [1.0, 2.0])
  with pytest.raises(ValueError, match="not defined"):
    paired.t_two_sided_p(1.0, 0)
