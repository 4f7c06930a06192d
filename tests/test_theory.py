"""Tests for jaxinit.theory: reference values of ../shared/theory.md, closed forms against
quadrature, vmap over (C_b, C_W), and the kernel recursion against a vmapped Monte-Carlo ensemble."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinit import initializers, theory


def test_tanh_susceptibilities_reference_values():
  assert float(theory.chi_perp("tanh", 1.0, 1.0)) == pytest.approx(0.464403, abs=1e-5)
  assert float(theory.chi_parallel("tanh", 1.0, 1.0)) == pytest.approx(0.181798, abs=1e-5)


def test_tanh_fixed_point_reference_values():
  K_star = theory.fixed_point("tanh", 0.0, 1.5)
  assert float(K_star) == pytest.approx(0.28689, abs=1e-5)
  assert float(theory.chi_perp("tanh", 1.5, K_star)) == pytest.approx(1.0406, abs=1e-4)
  assert float(theory.fixed_point("tanh", 0.0, 1.5, K0=5.0)) == pytest.approx(0.28689, abs=1e-5)


def test_tanh_critical_kernel_decays_to_reference_and_as_a_power_law():
  Ks = theory.kernel_recursion("tanh", 0.0, 1.0, 1.0, 1000)
  assert float(Ks[9]) == pytest.approx(0.058012, abs=1e-5)
  # K(l) ~ 1/(2l) at large depth (PDLT 5.3 / theory.md), to leading order.
  assert float(Ks[999]) * 2 * 1000 == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("name", ["relu", "leaky_relu(0.2)", "linear", "erf"])
@pytest.mark.parametrize("K", [0.1, 1.0, 3.0])
def test_closed_forms_equal_quadrature(name, K):
  from jaxinit import activations

  act = activations.get(name)
  slope = jax.vmap(jax.grad(act.fn))
  np.testing.assert_allclose(theory.second_moment(act, K),
                             theory.gaussian_expectation(lambda z: act(z) ** 2, K), rtol=1e-5)
  np.testing.assert_allclose(theory.derivative_moment(act, K),
                             theory.gaussian_expectation(lambda z: slope(z) ** 2, K), rtol=1e-5)


def test_chi_parallel_is_the_derivative_of_the_second_moment():
  """chi_par = C_W d<s^2>_K/dK, checked by a central difference of the second moment."""
  for name in ("tanh", "gelu", "erf", "silu"):
    for K in (0.05, 0.3, 1.0, 3.0):
      h = 1e-2 * K
      diff = 1.7 * (float(theory.second_moment(name, K + h)) -
                    float(theory.second_moment(name, K - h))) / (2 * h)
      assert float(theory.chi_parallel(name, 1.7, K)) == pytest.approx(diff, rel=2e-3)


def test_chi_parallel_at_zero_kernel_is_finite():
  # K -> 0: chi_par -> C_W (s'(0)^2 + s(0) s''(0)) = C_W for tanh, and matches K = 1e-3.
  assert float(theory.chi_parallel("tanh", 0.8, 0.0)) == pytest.approx(0.8, rel=1e-6)
  assert float(theory.chi_parallel("tanh", 0.8, 1e-3)) == pytest.approx(0.8, rel=1e-2)


def test_scale_invariant_criticality_keeps_the_kernel_exactly():
  np.testing.assert_allclose(theory.kernel_recursion("relu", 0.0, 2.0, 1.3, 50), 1.3, rtol=1e-6)
  np.testing.assert_allclose(theory.kernel_recursion("leaky_relu(0.2)", 0.0, 2 / 1.04, 0.7, 50),
                             0.7, rtol=1e-6)
  assert float(theory.chi_perp("relu", 2.0, 1.0)) == 1.0
  assert float(theory.chi_parallel("relu", 2.0, 1.0)) == pytest.approx(1.0, rel=1e-6)


def test_vmap_over_a_phase_diagram_grid_equals_the_loop():
  C_b = jnp.array([0.0, 0.05, 0.3])
  C_W = jnp.array([0.8, 1.0, 1.5, 2.5])
  grid = jax.jit(jax.vmap(jax.vmap(
      lambda cb, cw: theory.chi_perp("tanh", cw, theory.fixed_point("tanh", cb, cw, iterations=300)),
      in_axes=(None, 0)), in_axes=(0, None)))(C_b, C_W)
  assert grid.shape == (3, 4)
  for i, cb in enumerate(C_b.tolist()):
    for j, cw in enumerate(C_W.tolist()):
      expected = theory.chi_perp("tanh", cw, theory.fixed_point("tanh", cb, cw, iterations=300))
      np.testing.assert_allclose(grid[i, j], expected, rtol=1e-5)
  # Order to chaos: at C_b = 0, tanh is ordered for C_W < 1 and chaotic above.
  assert float(grid[0, 0]) < 1 < float(grid[0, 2])


def test_depth_scales():
  xi_q, xi_c = theory.depth_scales("tanh", 0.0, 0.8, theory.fixed_point("tanh", 0.0, 0.8))
  # Ordered phase with K* = 0: chi_par = chi_perp = C_W s'(0)^2 = 0.8.
  assert float(xi_q) == pytest.approx(-1 / math.log(0.8), rel=1e-4)
  assert float(xi_c) == pytest.approx(-1 / math.log(0.8), rel=1e-4)


def test_bivariate_expectation_against_closed_forms():
  # erf: E[erf(z1) erf(z2)] = (2/pi) arcsin(2 K12 / sqrt((1 + 2 K11)(1 + 2 K22))).
  K11, K12, K22 = 1.0, 0.6, 2.0
  got = theory.bivariate_expectation(
      lambda a, b: jax.scipy.special.erf(a) * jax.scipy.special.erf(b), K11, K12, K22)
  closed = 2 / math.pi * math.asin(2 * K12 / math.sqrt((1 + 2 * K11) * (1 + 2 * K22)))
  assert float(got) == pytest.approx(closed, abs=1e-5)
  # relu: the arc-cosine kernel; the kink slows the product rule (1e-3 at 96 nodes).
  got = theory.bivariate_expectation(lambda a, b: jax.nn.relu(a) * jax.nn.relu(b), K11, K12, K22)
  assert float(got) == pytest.approx(float(theory.relu_arccos_kernel(K11, K22, K12)), abs=2e-3)
  # Equal inputs: the diagonal equals the single-input moment.
  assert float(theory.bivariate_expectation(lambda a, b: jnp.tanh(a) * jnp.tanh(b), 1.0, 1.0, 1.0)
               ) == pytest.approx(0.394294, abs=1e-5)


def test_relu_arccos_kernel_limits():
  assert float(theory.relu_arccos_kernel(2.0, 2.0, 2.0)) == pytest.approx(1.0, rel=1e-6)  # K/2
  assert float(theory.relu_arccos_kernel(1.0, 1.0, 0.0)) == pytest.approx(1 / (2 * math.pi))
  K11, K12, K22 = theory.correlation_step("relu", 0.0, 2.0, 1.0, 1.0, 1.0)
  assert float(K12) / math.sqrt(float(K11) * float(K22)) == pytest.approx(1.0, rel=1e-6)


def _empirical_kernels(activation, C_b, C_W, width, depth, seeds):
  """G(l) = mean_i z_i(l)^2 of one input through `seeds` networks, vmapped: shape (seeds, depth)."""
  from jaxinit import activations

  act = activations.get(activation)
  w_init = initializers.variance_scaling(scale=C_W, mode="fan_in", distribution="normal")
  b_init = initializers.normal(stddev=math.sqrt(C_b))
  x = jnp.ones((width,))  # |x|^2 / n0 = 1, so K(1) = C_b + C_W

  def network(key):
    def layer(h, k):
      kw, kb = jax.random.split(k)
      z = w_init(kw, (width, width)).T @ h + b_init(kb, (width,))
      return act(z), jnp.mean(z * z)
    _, G = jax.lax.scan(layer, x, jax.random.split(key, depth))
    return G

  return jax.jit(jax.vmap(network))(jax.random.split(jax.random.key(0), seeds))


@pytest.mark.parametrize(("activation", "C_b", "C_W"), [
    ("relu", 0.0, 2.0), ("relu", 0.1, 1.5), ("tanh", 0.0, 1.0), ("tanh", 0.05, 1.5),
    ("erf", 0.0, math.pi / 4), ("erf", 0.2, 2.0),
])
def test_kernel_recursion_matches_monte_carlo(activation, C_b, C_W):
  """Width 512, depth 8, 32 seeds: the seed-mean of G(l) is within 4 standard errors of K(l)."""
  G = np.asarray(_empirical_kernels(activation, C_b, C_W, 512, 8, 32), np.float64)
  K = np.asarray(theory.kernel_recursion(activation, C_b, C_W, C_b + C_W, 8))
  se = G.std(axis=0, ddof=1) / math.sqrt(G.shape[0])
  assert np.all(np.abs(G.mean(axis=0) - K) < 4 * se + 1e-3 * K), (G.mean(axis=0), K, se)
