"""Tests for jaxinit.theory: reference values of ../shared/theory.md (each asserted once, in the
first tests; later tests compare functions with each other), closed forms against quadrature, vmap
over (C_b, C_W), and the kernel recursion against a vmapped Monte-Carlo ensemble (conftest's
chain_moments). The large Monte Carlo (depth 50, width 512) is marked slow."""

import math

import gaussian_reference
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

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
  """The loop calls the unbatched function (jitted once, so the 12 calls do not each trace it)."""
  C_b = jnp.array([0.0, 0.05, 0.3])
  C_W = jnp.array([0.8, 1.0, 1.5, 2.5])
  chi = lambda cb, cw: theory.chi_perp("tanh", cw, theory.fixed_point("tanh", cb, cw))
  grid = jax.jit(jax.vmap(jax.vmap(chi, in_axes=(None, 0)), in_axes=(0, None)))(C_b, C_W)
  assert grid.shape == (3, 4)
  one = jax.jit(chi)
  for i, cb in enumerate(C_b.tolist()):
    for j, cw in enumerate(C_W.tolist()):
      np.testing.assert_allclose(grid[i, j], one(cb, cw), rtol=1e-5)
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
  assert float(got) == pytest.approx(closed, rel=1e-6)
  # relu: the arc-cosine kernel; the rule splits at both kinks (a product rule errs by 1e-3).
  got = theory.bivariate_expectation(lambda a, b: jax.nn.relu(a) * jax.nn.relu(b), K11, K12, K22)
  assert float(got) == pytest.approx(float(theory.relu_arccos_kernel(K11, K22, K12)), rel=1e-6)
  # Equal inputs: the diagonal equals the single-input moment (test_gains asserts its value).
  assert float(theory.bivariate_expectation(lambda a, b: jnp.tanh(a) * jnp.tanh(b), 1.0, 1.0, 1.0)
               ) == pytest.approx(float(theory.second_moment("tanh", 1.0)), abs=1e-5)


def test_relu_arccos_kernel_limits():
  assert float(theory.relu_arccos_kernel(2.0, 2.0, 2.0)) == pytest.approx(1.0, rel=1e-6)  # K/2
  assert float(theory.relu_arccos_kernel(1.0, 1.0, 0.0)) == pytest.approx(1 / (2 * math.pi))
  K11, K12, K22 = theory.correlation_step("relu", 0.0, 2.0, 1.0, 1.0, 1.0)
  assert float(K12) / math.sqrt(float(K11) * float(K22)) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize(("activation", "C_b", "C_W"), [
    ("relu", 0.1, 1.5), ("tanh", 0.05, 1.5), ("erf", 0.2, 2.0),
    # The critical points, covered at depth 50 by test_critical_initialization_monte_carlo_kernel.
    pytest.param("relu", 0.0, 2.0, marks=pytest.mark.slow),
    pytest.param("tanh", 0.0, 1.0, marks=pytest.mark.slow),
    pytest.param("erf", 0.0, math.pi / 4, marks=pytest.mark.slow),
])
def test_kernel_recursion_matches_monte_carlo(chain_moments, activation, C_b, C_W):
  """Width 512, depth 8, 32 seeds (one input, |x|^2/n0 = 1, so K(1) = C_b + C_W): the seed-mean of
  G(l) = mean_i z_i(l)^2 is within 4 standard errors (+ 1e-3 K for float32) of K(l)."""
  G = chain_moments(activation, C_b, C_W, 512, 8, 32)[0]
  K = np.asarray(theory.kernel_recursion(activation, C_b, C_W, C_b + C_W, 8))
  se = G.std(axis=0, ddof=1) / math.sqrt(G.shape[0])
  assert np.all(np.abs(G.mean(axis=0) - K) < 4 * se + 1e-3 * K), (G.mean(axis=0), K, se)


# ----------------------------------------------------------------------------- phase diagram


def test_phase_diagram_in_one_vmapped_call_and_the_edge_of_chaos():
  C_W, C_b = jnp.array([0.5, 1.0, 1.5, 2.0]), jnp.array([0.0, 0.05, 0.3])
  grid = jax.jit(jax.vmap(jax.vmap(lambda cw, cb: theory.phase("tanh", cb, cw),
                                   (None, 0)), (0, None)))(C_W, C_b)
  assert grid.shape == (4, 3)
  # phase = chi_perp at the fixed point (theory.md's values: test_tanh_fixed_point_reference_values)
  K_ref = theory.fixed_point("tanh", 0.0, 1.5)
  chi_ref = float(theory.chi_perp("tanh", 1.5, K_ref))
  np.testing.assert_allclose(grid[2, 0], chi_ref, rtol=1e-5)
  np.testing.assert_allclose(grid[3, 1], theory.phase("tanh", 0.05, 2.0), rtol=1e-5)
  assert float(grid[0, 0]) < 1 < float(grid[3, 0])  # (0, 0.5) ordered, (0, 2) chaotic
  K_star, chi = theory.phase_point("tanh", 0.0, 1.5)
  assert (float(K_star), float(chi)) == pytest.approx((float(K_ref), chi_ref), rel=1e-5)
  # The edge of chaos at C_b = 0 is C_W = 1: chi_perp(K*) crosses 1 between 1.0 and 1.01.
  fine = jax.vmap(lambda cw: theory.phase("tanh", 0.0, cw))(jnp.linspace(0.9, 1.1, 21))
  assert np.nonzero(np.diff(np.asarray(fine) > 1))[0].tolist() == [10]


# ----------------------------------------------------------------------------- correlation map


def test_correlation_recursion_relu_closed_form_and_tanh_fixed_point():
  c = theory.correlation_recursion("relu", 0.0, 2.0, 1.0, 0.3, 1.0, 3)
  t = math.acos(0.3)
  assert c.shape == (3,) and float(c[0]) == pytest.approx(0.3, rel=1e-6)
  assert float(c[1]) == pytest.approx((math.sin(t) + (math.pi - t) * 0.3) / math.pi, rel=1e-5)
  # Chaotic tanh: c* < 1 is a fixed point of the map and the limit of the recursion from K*.
  c_star = theory.correlation_fixed_point("tanh", 0.05, 2.0)
  K = theory.fixed_point("tanh", 0.05, 2.0)
  K11, K12, _ = theory.correlation_step("tanh", 0.05, 2.0, K, c_star * K, K)
  assert 0 < float(c_star) < 0.9 and float(K12 / K11) == pytest.approx(float(c_star), abs=1e-5)
  deep = theory.correlation_recursion("tanh", 0.05, 2.0, K, 0.99 * K, K, 500)
  assert float(deep[-1]) == pytest.approx(float(c_star), abs=1e-4)
  # Ordered: c* = 1.
  assert float(theory.correlation_fixed_point("tanh", 0.3, 0.8)) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(("C_b", "C_W"), [(0.05, 2.0), (0.3, 0.8), (0.0, 1.5)])
def test_chi_c_is_the_slope_of_the_correlation_map_at_one(C_b, C_W):
  """Second-order one-sided difference (h = 1e-3) of the c-map at c = 1, in float64."""
  with jax.enable_x64(True):
    K = theory.fixed_point("tanh", C_b, C_W)

    def c_map(c):
      K11, K12, _ = theory.correlation_step("tanh", C_b, C_W, K, c * K, K)
      return float(K12 / K11)

    h = 1e-3
    slope = (3 * c_map(1.0) - 4 * c_map(1 - h) + c_map(1 - 2 * h)) / (2 * h)
    assert float(theory.chi_c("tanh", C_b, C_W)) == pytest.approx(slope, rel=1e-5)
  assert float(theory.chi_c("tanh", C_b, C_W)) == pytest.approx(slope, rel=1e-5)  # float32


# ----------------------------------------------------------------------------- gradients


def test_gradient_norm_ratio_closed_forms():
  np.testing.assert_allclose(theory.gradient_norm_ratio("relu", 0.0, 1.6, 1.0, 5),
                             0.8 ** np.arange(4, -1, -1), rtol=1e-6)
  batched = jax.jit(jax.vmap(lambda cw: theory.gradient_norm_ratio("relu", 0.1, cw, 1.0, 3)))(
      jnp.array([1.0, 3.0]))
  np.testing.assert_allclose(batched, [[0.25, 0.5, 1.0], [2.25, 1.5, 1.0]], rtol=1e-6)
  K_star = theory.fixed_point("tanh", 0.0, 1.5)  # from K*, chi_perp(K*)^(L - l)
  chi = float(theory.chi_perp("tanh", 1.5, K_star))
  np.testing.assert_allclose(theory.gradient_norm_ratio("tanh", 0.0, 1.5, K_star, 6),
                             chi ** np.arange(5, -1, -1), rtol=1e-5)


def _gradient_norms(activation, C_b, C_W, width, depth, seeds, q):
  """||dL/dz(l)||^2 / ||v||^2 for L = sum(z(L) * v), v fixed, vmapped over configurations (arrays
  C_b, C_W of shape (P,)) and seeds: shape (P, seeds, depth). dL/dz(l) is the gradient with respect
  to a zero offset added to z(l)."""
  from jaxinit import activations

  act = activations.get(activation)
  x, v = jnp.full((width,), math.sqrt(q)), jax.random.normal(jax.random.key(7), (width,))

  def loss(offsets, key, C_b, C_W):
    w_init = initializers.variance_scaling(scale=C_W, mode="fan_in", distribution="normal")
    b_init = initializers.normal(stddev=jnp.sqrt(C_b))

    def layer(h, inputs):
      k, offset = inputs
      kw, kb = jax.random.split(k)
      z = w_init(kw, (width, width)).T @ h + b_init(kb, (width,)) + offset
      return act(z), z

    _, zs = jax.lax.scan(layer, x, (jax.random.split(key, depth), offsets))
    return jnp.sum(zs[-1] * v)

  def norms(key, C_b, C_W):
    g = jax.grad(loss)(jnp.zeros((depth, width)), key, C_b, C_W)
    return jnp.sum(g * g, axis=1) / jnp.sum(v * v)

  keys = jax.random.split(jax.random.key(3), seeds)
  per_config = jax.vmap(norms, in_axes=(0, None, None))
  return jax.jit(jax.vmap(per_config, in_axes=(None, 0, 0)))(keys, jnp.asarray(C_b), jnp.asarray(C_W))


@pytest.mark.parametrize(("width", "depth", "seeds"), [
    (128, 6, 32), pytest.param(512, 10, 16, marks=pytest.mark.slow)])
def test_gradient_norm_ratio_matches_monte_carlo(width, depth, seeds):
  """tanh at (C_b, C_W) = (0, 1.5) (chaotic) and (0.05, 0.7) (ordered); |x|^2/n0 = 3, so K(1) is far
  from K* and chi_perp varies with depth. Tolerance: 4 standard errors of the seed mean at every
  layer (a t-variable; 4 keeps the correlated layers from failing by chance). Fast: width 128,
  depth 6, 32 seeds, se 6-7% of the ratio, the O(L/n) ~ 5% finite-width correction below one se;
  slow: width 512, depth 10, 16 seeds, se 5-8%, correction ~2%. The shifted indexing
  prod chi_perp(K(k+1)) misses by > 10 standard errors at l = 1 (measured 23 fast, 27 slow): the
  factor for layer l is chi_perp(K(l))."""
  configs = ((0.0, 1.5), (0.05, 0.7))
  C_b, C_W = (np.array(c) for c in zip(*configs, strict=True))
  norms = np.asarray(_gradient_norms("tanh", C_b, C_W, width, depth, seeds, 3.0), np.float64)
  for (cb, cw), R in zip(configs, norms, strict=True):
    pred = np.asarray(theory.gradient_norm_ratio("tanh", cb, cw, cb + 3 * cw, depth), np.float64)
    se = R.std(axis=0, ddof=1) / math.sqrt(R.shape[0])
    assert np.all(np.abs(R.mean(axis=0) - pred)[:-1] < 4 * se[:-1]), (cw, R.mean(axis=0), pred, se)
    chis = np.asarray(jax.vmap(lambda K, cw=cw: theory.chi_perp("tanh", cw, K))(
        theory.kernel_recursion("tanh", cb, cw, cb + 3 * cw, depth)))
    assert abs(R.mean(axis=0)[0] - np.prod(chis[1:])) > 10 * se[0]


# ----------------------------------------------------------------------------- criticality


@pytest.mark.parametrize(("name", "C_W", "kind"), [
    ("relu", 2.0, "scale_invariant"), ("leaky_relu(0.2)", 2 / 1.04, "scale_invariant"),
    ("linear", 1.0, "scale_invariant"), ("tanh", 1.0, "k_star_zero"),
    ("erf", math.pi / 4, "k_star_zero"), ("sin", 1.0, "k_star_zero"),
    # A kink at 0 (selu): C_W = 1 / mean of the one-sided squared slopes, 2 / (lambda^2 (1 + alpha^2)).
    ("elu", 1.0, "k_star_zero"),
    ("selu", 2 / (1.0507009873554805 ** 2 * (1 + 1.6732632423543772 ** 2)), "k_star_zero"),
])
def test_critical_point_closed_classes(name, C_W, kind):
  crit = theory.critical_point(name)
  assert all(isinstance(v, float) for v in crit[:3])
  assert (crit.C_b, crit.kind) == (0.0, kind)
  assert pytest.approx(C_W, rel=1e-6) == crit.C_W
  assert math.isnan(crit.K_star) if kind == "scale_invariant" else crit.K_star == 0.0


def _gaussian_quad(f, K):
  from scipy import integrate

  g = lambda z: f(z) * math.exp(-z * z / (2 * K)) / math.sqrt(2 * math.pi * K)
  s = math.sqrt(K)
  return sum(integrate.quad(g, a, b, epsabs=1e-13, epsrel=1e-12, limit=400)[0]
             for a, b in ((-14 * s, 0.0), (0.0, 14 * s)))


@pytest.mark.parametrize(("name", "pdlt", "ours"), [
    # PDLT ch. 5 (as quoted in theory.md's brief): gelu (0.17292, 1.98305, 17.8653), swish
    # (0.055514, 1.98812, 14.5771). C_b and C_W of gelu agree; its K* = 17.8653 and swish's numbers
    # fail the three equations below by 0.06 and 0.5 in the fixed-point equation (scipy), while
    # these satisfy them to 1e-9: we keep the solutions and compare only C_W (and gelu's C_b).
    ("gelu", (0.17292, 1.98305), (0.1729224, 1.9830583, 3.5615528)),
    ("swish", (None, 1.98812), (0.5551432, 1.9880047, 14.3201736)),
])
def test_critical_point_numerical_solutions_satisfy_the_equations(name, pdlt, ours):
  from scipy import special

  crit = theory.critical_point(name)
  assert crit.kind == "numerical" and theory.critical_point(name) is crit  # cached
  np.testing.assert_allclose((crit.C_b, crit.C_W, crit.K_star), ours, rtol=1e-6)
  if pdlt[0] is not None:
    assert crit.C_b == pytest.approx(pdlt[0], abs=1e-4)
  assert pytest.approx(pdlt[1], rel=1e-4) == crit.C_W
  if name == "gelu":
    s = lambda z: z * 0.5 * (1 + special.erf(z / math.sqrt(2)))
    ds = lambda z: 0.5 * (1 + special.erf(z / math.sqrt(2))) + z * math.exp(-z * z / 2) / math.sqrt(
        2 * math.pi)
  else:
    s = lambda z: z * special.expit(z)
    ds = lambda z: special.expit(z) * (1 + z * (1 - special.expit(z)))
  C_b, C_W, K = crit.C_b, crit.C_W, crit.K_star
  assert C_b + C_W * _gaussian_quad(lambda z: s(z) ** 2, K) == pytest.approx(K, abs=1e-5)
  assert C_W * _gaussian_quad(lambda z: ds(z) ** 2, K) == pytest.approx(1.0, abs=1e-5)  # chi_perp
  chi_par = C_W * _gaussian_quad(lambda z: s(z) ** 2 * (z * z - K), K) / (2 * K * K)
  assert chi_par == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_critical_point_raises_where_there_is_none(name):
  with pytest.raises(ValueError, match=f"{name} has no critical point: s\\(0\\) = .* != 0"):
    theory.critical_point(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_critical_initialization_monte_carlo_kernel(chain_moments, name):
  """Width 512, depth 50, 256 seeds: the seed mean of G(l) is within 4 standard errors of K(l) at
  every layer (the spread of G(50)/K(50) is 0.69 for relu and 0.26 for tanh, so 4 se = 17% and
  7%): flat at K(1) for relu, the ~1/(2l) decay for tanh (both asserted on K itself in
  test_scale_invariant_criticality_keeps_the_kernel_exactly and
  test_tanh_critical_kernel_decays_to_reference_and_as_a_power_law). The fast path checks the same
  recursion against the same chain at depth 8 (test_kernel_recursion_matches_monte_carlo)."""
  crit = theory.critical_point(name)
  G = chain_moments(name, crit.C_b, crit.C_W, 512, 50, 256)[0]
  K = np.asarray(theory.kernel_recursion(name, crit.C_b, crit.C_W, crit.C_b + crit.C_W, 50))
  se = G.std(axis=0, ddof=1) / math.sqrt(G.shape[0])
  assert np.all(np.abs(G.mean(axis=0) - K) < 4 * se), (G.mean(axis=0), K, se)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_critical_initialization_monte_carlo_kernel_full_mlp(name):
  """The same through jaxinit.nets.models.MLP (full 512 x 512 kernels), 32 seeds, 4 standard errors."""
  from jaxinit.nets import models

  crit, depth, width = theory.critical_point(name), 50, 512
  model = models.MLP(widths=(width,) * depth, activation=name, kernel_init=initializers.variance_scaling(
      scale=crit.C_W, mode="fan_in", distribution="normal"),
      bias_init=initializers.normal(stddev=math.sqrt(crit.C_b)))
  x = jnp.ones((1, width))

  def kernels(key):
    _, inter = models.logits_and_intermediates(model, model.init(key, x), x)
    return jnp.stack([jnp.mean(inter[f"preact_{i}"] ** 2) for i in range(depth)])

  G = np.asarray(jax.jit(jax.vmap(kernels))(jax.random.split(jax.random.key(1), 32)), np.float64)
  K = np.asarray(theory.kernel_recursion(name, crit.C_b, crit.C_W, crit.C_b + crit.C_W, depth))
  se = G.std(axis=0, ddof=1) / math.sqrt(G.shape[0])
  assert np.all(np.abs(G.mean(axis=0) - K) < 4 * se), (G.mean(axis=0), K, se)


# ----------------------------------------------------------------------------- kinks, fixed points


def _slope2_at_zero(name: str) -> float:
  """(s'(0-)^2 + s'(0+)^2) / 2 in float64, from the independent Python reference."""
  _, ds = gaussian_reference.functions(name)
  return (ds(-1e-300) ** 2 + ds(1e-300) ** 2) / 2


@pytest.mark.parametrize("name", ["selu", "elu(0.3)", "elu(0.5)", "elu", "elu(2.0)"])
def test_chi_perp_at_zero_averages_both_slopes_of_a_kink(name):
  """At K = 0 (where the K* = 0 class sits) chi_perp is C_W times the mean of the two one-sided
  squared slopes, so at the critical C_W it is 1."""
  crit = theory.critical_point(name)
  assert pytest.approx(1 / _slope2_at_zero(name), rel=1e-12) == crit.C_W
  assert float(theory.chi_perp(name, crit.C_W, 0.0)) == pytest.approx(1.0, abs=2e-7)
  assert float(theory.chi_perp(name, 1.5, 0.0)) == pytest.approx(1.5 * _slope2_at_zero(name),
                                                                  rel=1e-6)


def _reference_fixed_point(name: str, C_b: float, C_W: float, K0: float = 1.0) -> float:
  """The first root of F(K) = K from K0 in the direction the map moves, in float64 with scipy:
  a scan by 1% steps, then brentq (independent of the package's march and bisection)."""
  s, _ = gaussian_reference.functions(name)
  gap = lambda K: C_b + C_W * gaussian_reference.expectation(lambda z: s(z) ** 2, K) - K
  up = gap(K0) > 0
  K = K0
  while 1e-9 < K < 1e6:
    nxt = K * (1.01 if up else 1 / 1.01)
    if (gap(nxt) > 0) != up:
      return optimize.brentq(gap, min(K, nxt), max(K, nxt), xtol=1e-14, rtol=1e-12)
    K = nxt
  return math.inf if up else 0.0


@pytest.mark.parametrize(("C_b", "C_W", "expected"), [(0.05, 2.234129, 0.1645), (0.17292, 1.984, 6.338)])
def test_fixed_point_is_a_fixed_point_near_a_bottleneck(C_b, C_W, expected):
  """gelu beside its critical point: the map crawls through a bottleneck (or toward a repelling
  root) where 100 iterations and Newton steps stopped at 0.815 (1.8% residual) or declared inf."""
  K = float(theory.fixed_point("gelu", C_b, C_W))
  reference = _reference_fixed_point("gelu", C_b, C_W)
  assert reference == pytest.approx(expected, abs=2e-3)  # the numbers, to their digits
  assert pytest.approx(reference, rel=1e-4) == K
  s, _ = gaussian_reference.functions("gelu")
  F = C_b + C_W * gaussian_reference.expectation(lambda z: s(z) ** 2, K)
  assert abs(F - K) <= theory.FIXED_POINT_RTOL * K


def test_fixed_point_classes():
  assert float(theory.fixed_point("tanh", 0.0, 0.8)) == 0.0  # flows into K* = 0: exactly
  assert float(theory.fixed_point("relu", 0.0, 2.5)) == math.inf  # grows without bound
  assert float(theory.fixed_point("relu", 0.0, 2.0, K0=3.0)) == 3.0  # every kernel fixed
  assert float(theory.fixed_point("relu", 0.1, 1.0)) == pytest.approx(0.2, rel=1e-6)
  assert float(theory.fixed_point("tanh", 0.3, 0.8, K0=0.01)) == pytest.approx(
      _reference_fixed_point("tanh", 0.3, 0.8, 0.01), rel=1e-5)  # upward from below


def test_selu_phase_across_its_edge_of_chaos_agrees_with_float64():
  """60 C_W values through (0.33, 0.48) at C_b = 0: ordered below C_W* = 1 / s'^2-mean (K* = 0,
  chi_perp = C_W s'^2-mean), chaotic above (K* > 0 from the float64 reference)."""
  edge = 1 / _slope2_at_zero("selu")
  C_W = np.linspace(0.33, 0.48, 60)
  got = np.asarray(jax.vmap(lambda w: theory.phase("selu", 0.0, w))(jnp.asarray(C_W, jnp.float32)))
  _, ds = gaussian_reference.functions("selu")
  for w, chi in zip(C_W, got, strict=True):
    if abs(w - edge) < 1e-4:
      continue
    K = 0.0 if w < edge else _reference_fixed_point("selu", 0.0, float(w))
    want = w * (_slope2_at_zero("selu") if K == 0 else
                gaussian_reference.expectation(lambda z: ds(z) ** 2, K))
    assert (chi < 1) == (w < edge) and chi == pytest.approx(want, rel=2e-4), w


def test_correlation_depth_is_positive_in_the_chaotic_phase():
  """tanh at (0, 1.5): c* = 0 (odd, C_b = 0), so chi_c = C_W <tanh'>_{K*}^2 (Schoenholz et al.'s
  xi_c = 52.4), computed here in float64 with scipy."""
  K = _reference_fixed_point("tanh", 0.0, 1.5)
  _, ds = gaussian_reference.functions("tanh")
  chi_c = 1.5 * gaussian_reference.expectation(ds, K) ** 2
  xi_q, xi_c = theory.depth_scales("tanh", 0.0, 1.5, theory.fixed_point("tanh", 0.0, 1.5))
  assert float(xi_c) == pytest.approx(-1 / math.log(chi_c), rel=1e-4)
  assert float(xi_c) == pytest.approx(52.4, abs=0.05) and float(xi_q) > 0


@pytest.mark.slow
def test_correlation_depth_at_a_nonzero_c_star_against_float64():
  """tanh at (0.05, 2.0): c* > 0 solved with brentq on scipy's two-dimensional c-map."""
  C_b, C_W = 0.05, 2.0
  K = _reference_fixed_point("tanh", C_b, C_W)
  s, ds = gaussian_reference.functions("tanh")
  c_map = lambda c: (C_b + C_W * gaussian_reference.cross(s, K, c * K, K)) / K - c
  c_star = optimize.brentq(c_map, 0.0, 0.99, xtol=1e-9)
  chi_c = C_W * gaussian_reference.cross(ds, K, c_star * K, K)
  _, xi_c = theory.depth_scales("tanh", C_b, C_W, theory.fixed_point("tanh", C_b, C_W))
  assert float(xi_c) == pytest.approx(-1 / math.log(chi_c), rel=1e-3)
