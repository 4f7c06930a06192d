"""Tests for jaxinit.theory.gains and the Gaussian expectations they rest on (jaxinit.theory)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinit import activations, theory
from jaxinit.theory import gains

# Reference values from ../shared/theory.md.
TANH2 = {0.1: 0.084214, 0.5: 0.273676, 1.0: 0.394294, 2.0: 0.519976}
ERF2_AT_1 = 0.46455905


@pytest.mark.parametrize(("K", "expected"), list(TANH2.items()))
def test_tanh_second_moment_reference_values(K, expected):
  got = theory.gaussian_expectation(lambda z: jnp.tanh(z) ** 2, K)
  assert float(got) == pytest.approx(expected, abs=1e-5)


def test_erf_second_moment_closed_form():
  got = float(theory.gaussian_expectation(lambda z: jax.scipy.special.erf(z) ** 2, 1.0))
  assert got == pytest.approx(ERF2_AT_1, abs=1e-6)
  closed = 2 / math.pi * math.asin(2 / 3)  # (2/pi) arcsin(2K / (1 + 2K)) at K = 1
  assert got == pytest.approx(closed, abs=1e-6)


def test_gaussian_expectation_is_exact_for_relu_and_vmaps_over_K():
  Ks = jnp.array([0.1, 1.0, 7.0])
  got = jax.jit(jax.vmap(lambda K: theory.gaussian_expectation(
      lambda z: jax.nn.relu(z) ** 2, K)))(Ks)
  np.testing.assert_allclose(got, Ks / 2, rtol=1e-6)


@pytest.mark.parametrize(("name", "expected"), [
    ("linear", 1.0), ("identity", 1.0), ("sigmoid", 1.0), ("tanh", 5 / 3),
    ("relu", math.sqrt(2)), ("leaky_relu", math.sqrt(2 / (1 + 0.01 ** 2))),
    ("leaky_relu(0.2)", math.sqrt(2 / 1.04)), ("selu", 0.75),
])
def test_torch_gain_table(name, expected):
  assert gains.torch_gain(name) == pytest.approx(expected, rel=1e-12)


def test_torch_gain_rejects_what_torch_does_not_list():
  with pytest.raises(ValueError, match="accepted: linear, sigmoid, tanh, relu, leaky_relu, selu"):
    gains.torch_gain("gelu")


@pytest.mark.parametrize("name", ["relu", "leaky_relu(0.2)", "linear"])
def test_variance_preserving_gain_equals_torch_for_the_scale_invariant_class(name):
  assert float(gains.variance_preserving_gain(name)) == pytest.approx(gains.torch_gain(name),
                                                                      rel=1e-6)


def test_variance_preserving_gain_closed_forms():
  assert float(gains.variance_preserving_gain("tanh")) == pytest.approx(
      1 / math.sqrt(TANH2[1.0]), rel=2e-5)
  assert float(gains.variance_preserving_gain("erf")) == pytest.approx(
      1 / math.sqrt(ERF2_AT_1), rel=2e-6)
  assert float(gains.variance_preserving_gain("selu")) == pytest.approx(1.0, abs=1e-4)
  assert float(gains.variance_preserving_gain("tanh", K=2.0)) == pytest.approx(
      math.sqrt(2.0 / TANH2[2.0]), rel=2e-5)


@pytest.mark.parametrize("name", activations.known())
def test_variance_preserving_gain_preserves_the_second_moment_monte_carlo(name):
  """Monte Carlo: g^2 E[s(z)^2] = 1 for z ~ N(0, 1), 2^20 samples, within 5 standard errors."""
  act = activations.get(name)
  z = jax.random.normal(jax.random.key(0), (1 << 20,))
  s2 = np.asarray(act(z), np.float64) ** 2
  g = float(gains.variance_preserving_gain(act))
  se = g ** 2 * s2.std() / math.sqrt(s2.size)
  assert g ** 2 * s2.mean() == pytest.approx(1.0, abs=5 * se)


@pytest.mark.parametrize("K", [0.0, -1.0, float("nan")])
def test_variance_preserving_gain_rejects_non_positive_variances(K):
  with pytest.raises(ValueError, match=r"accepted: a number > 0\.0"):
    gains.variance_preserving_gain("tanh", K)
