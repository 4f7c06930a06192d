"""jaxinit.theory's Gaussian expectations against an independent float64 reference.

The reference (tests/gaussian_reference.py) is adaptive scipy quadrature of plain-Python activations,
split at the kinks. The contract checked, for every registered activation (and leaky relu, elu with
other parameters), K in [1e-3, 1e3] and correlations in [-0.999, 0.999], in float64: ``<s^2>_K``,
``<s'^2>_K``, ``chi_parallel``, ``<s^4>_K`` (finite_width) and the cross term ``E[s(z1) s(z2)]`` agree
to 1e-6 relative (a reference below 1e-12 to 1e-12 absolute; cross terms are compared relative to
``sqrt(<s^2>_K11 <s^2>_K22)``, the scale of the correlation). In float32 the same quantities agree to
:data:`F32_ULPS` float32 ulps relative. The fast suite checks the ends of the ranges for the
activations whose integrands are hardest for a fixed rule (saturating, kinked, growing); the whole
grid, random points (hypothesis) and 31 deep-kernel configurations over 20 layers are ``-m slow``.
"""

from __future__ import annotations

import math

import gaussian_reference as ref
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxinit import activations, theory
from jaxinit.theory import finite_width

RTOL = 1e-6
F32_ULPS = 8
"""The float32 contract: relative error <= 8 float32 ulps (8 x 2^-23 = 9.5e-7)."""
EVERY = [*sorted(set(activations.known()) - {"leaky_relu", "elu"}), "leaky_relu",
         "leaky_relu(negative_slope=0.2)", "elu", "elu(alpha=0.5)"]
CORRELATIONS = (-0.999, -0.5, 0.0, 0.5, 0.999)


def one_variable(name: str, K: float) -> dict[str, float]:
  """The reference values of the one-variable quantities at K."""
  s, ds = ref.functions(name)
  return {"<s^2>": ref.expectation(lambda z: s(z) ** 2, K),
          "<s'^2>": ref.expectation(lambda z: ds(z) ** 2, K),
          "chi_par": ref.expectation(lambda z: s(z) ** 2 * (z * z - K), K) / (2 * K * K),  # PDLT 5.9
          "<s^4>": ref.expectation(lambda z: s(z) ** 4, K)}


def library(name: str, K: float) -> dict[str, float]:
  act = activations.get(name)
  return {"<s^2>": float(theory.second_moment(act, K)),
          "<s'^2>": float(theory.derivative_moment(act, K)),
          "chi_par": float(theory.chi_parallel(act, 1.0, K)),
          "<s^4>": float(finite_width.fourth_moment(act, K))}


def check(name: str, Ks: list[float]) -> None:
  with jax.enable_x64(True):
    for K in Ks:
      want, got = one_variable(name, K), library(name, K)
      for what in want:
        assert got[what] == pytest.approx(want[what], rel=RTOL, abs=1e-12), (name, K, what)


def check_cross(name: str, K11: float, c: float, K22: float, rtol: float = RTOL,
                float32: bool = False) -> None:
  """E[s(z1) s(z2)] at correlation c to rtol, relative to sqrt(<s^2>_K11 <s^2>_K22)."""
  s, _ = ref.functions(name)
  K12 = c * math.sqrt(K11 * K22)
  if float32:  # the reference at the float32 inputs (sinh K12 at K12 = 99.9 moves by 1.5e-6)
    K11, K12, K22 = (float(np.float32(v)) for v in (K11, K12, K22))
  want = ref.cross(s, K11, K12, K22)
  scale = math.sqrt(ref.expectation(lambda z: s(z) ** 2, K11)
                    * ref.expectation(lambda z: s(z) ** 2, K22))
  got = float(theory.correlation_step(name, 0.0, 1.0, K11, K12, K22)[1])
  assert abs(got - want) <= rtol * scale, (name, K11, c, K22, got, want)


@pytest.mark.parametrize("name", ["tanh", "selu"])
def test_one_variable_expectations_to_1e_6(name: str) -> None:
  check(name, [1e-3, 1e3])


@pytest.mark.slow
@pytest.mark.parametrize("name", EVERY)
def test_one_variable_expectations_to_1e_6_everywhere(name: str) -> None:
  check(name, list(np.geomspace(1e-3, 1e3, 13)))


def test_fixed_gauss_hermite_was_not_enough_and_the_panel_rule_is() -> None:
  """The old default (160 Gauss-Hermite nodes) errs by 2.5e-2 on <tanh^2> at K = 100; the panel
  rule is within 1e-8 of the reference there."""
  with jax.enable_x64(True):
    want = ref.expectation(lambda z: math.tanh(z) ** 2, 100.0)
    old = float(theory.gaussian_expectation(lambda z: jnp.tanh(z) ** 2, 100.0, num_nodes=160))
    new = float(theory.gaussian_expectation(lambda z: jnp.tanh(z) ** 2, 100.0))
  assert abs(old - want) / want > 1e-2
  assert new == pytest.approx(want, rel=1e-8)


@pytest.mark.parametrize(("name", "K", "c"), [
    ("elu", 1e3, 0.5), ("tanh", 1e3, 0.999), ("relu", 2.0, -0.999),
    ("leaky_relu(negative_slope=0.2)", 1e3, -0.5), ("erf", 1e2, 0.99), ("sin", 1e2, 0.99)])
def test_cross_terms_to_1e_6(name: str, K: float, c: float) -> None:
  """Quadrature (elu, tanh; sigmoid in the next test) and closed forms (relu, leaky relu, erf, sin:
  the issue's 0.36-for-0.18 point) against the nested reference, where a fixed 96 x 96 rule erred
  by 1e-3..1."""
  with jax.enable_x64(True):
    check_cross(name, K, c, K)


def test_the_conditioned_rule_beats_the_tensor_rule_where_it_failed() -> None:
  """Sigmoid at K = 1e3, c = -0.999: the 96 x 96 Gauss-Hermite rule is off by 80%, the
  conditioned rule by < 1e-8."""
  with jax.enable_x64(True):
    s, _ = ref.functions("sigmoid")
    want = ref.cross(s, 1e3, -999.0, 1e3)
    f = lambda a, b: jax.nn.sigmoid(a) * jax.nn.sigmoid(b)
    old = float(theory.bivariate_expectation(f, 1e3, -999.0, 1e3, num_nodes=96))
    new = float(theory.bivariate_expectation(f, 1e3, -999.0, 1e3))
  assert abs(old - want) / want > 0.5
  assert new == pytest.approx(want, rel=1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("name", EVERY)
def test_cross_terms_to_1e_6_everywhere(name: str) -> None:
  with jax.enable_x64(True):
    for K in (1e-3, 0.1, 1.0, 10.0, 1e3):
      for c in CORRELATIONS:
        check_cross(name, K, c, K)
    for K11, c, K22 in ((0.5, 0.9, 20.0), (200.0, -0.7, 0.01), (1e-3, 0.3, 1e3)):
      check_cross(name, K11, c, K22)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, derandomize=True)
@given(name=st.sampled_from(EVERY), log_K11=st.floats(-3, 3), log_K22=st.floats(-3, 3),
       c=st.floats(-0.999, 0.999))
def test_cross_terms_at_random_points(name: str, log_K11: float, log_K22: float, c: float) -> None:
  with jax.enable_x64(True):
    check_cross(name, 10 ** log_K11, c, 10 ** log_K22)


def check_float32(name: str, Ks: list[float], cs: tuple[float, ...]) -> None:
  rtol = F32_ULPS * 2.0 ** -23
  for K in (float(np.float32(K)) for K in Ks):
    want, got = one_variable(name, K), library(name, K)
    for what in want:
      assert got[what] == pytest.approx(want[what], rel=rtol, abs=1e-12), (name, K, what)
    for c in cs:
      check_cross(name, K, c, K, rtol, float32=True)


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_float32_to_a_few_ulps(name: str) -> None:
  """In float32 (the default dtype) the one-variable quantities and the cross term are within
  F32_ULPS float32 ulps of the float64 reference: the rules' own error (< 1e-8) is far below
  float32 rounding, so what remains is the rounding of the sums (measured: <= 3.7e-7 relative;
  autodiff's ``1 - tanh^2`` and ``s (1 - s)`` and the odd part of ``s s' z`` would each cost 5e-6)."""
  check_float32(name, [1e-3, 1e3], (-0.999,))


@pytest.mark.slow
@pytest.mark.parametrize("name", EVERY)
def test_float32_to_a_few_ulps_everywhere(name: str) -> None:
  check_float32(name, list(np.geomspace(1e-3, 1e3, 13)), CORRELATIONS)


@pytest.mark.parametrize("name", ["erf", "sin", "leaky_relu(negative_slope=0.2)", "linear"])
def test_closed_cross_terms_meet_their_limits(name: str) -> None:
  """E[s(z1) s(z2)] at K12 = K11 = K22 is <s^2>; at K12 = -K11 = -K22 it is E[s(z) s(-z)]; at
  K12 = 0 it is E[s]^2 (one-variable expectations, 1e-8 accurate); and it is symmetric in (K11,
  K22)."""
  act = activations.get(name)
  with jax.enable_x64(True):
    K = jnp.float64(0.7)
    same = theory.correlation_step(act, 0.0, 1.0, K, K, K)
    assert float(same[1]) == pytest.approx(float(theory.second_moment(act, K)), rel=1e-12)
    mean = float(theory.gaussian_expectation(act, K))
    apart = theory.correlation_step(act, 0.0, 1.0, K, 0.0, 2 * K)
    assert float(apart[1]) == pytest.approx(
        mean * float(theory.gaussian_expectation(act, 2 * K)), rel=1e-8, abs=1e-14)
    opposite = theory.correlation_step(act, 0.0, 1.0, K, -K, K)
    assert float(opposite[1]) == pytest.approx(
        float(theory.gaussian_expectation(lambda z: act(z) * act(-z), K)), rel=1e-8, abs=1e-14)
    a, b = (theory.correlation_step(act, 0.0, 1.0, k1, -0.2, k2)[1] for k1, k2 in ((0.3, 0.5),
                                                                                   (0.5, 0.3)))
    assert float(a) == pytest.approx(float(b), rel=1e-12)


def _critical(name: str) -> tuple[float, float]:
  crit = theory.critical_point(name)
  return crit.C_b, crit.C_W


# (activation, C_b, C_W, K11, c, K22): the two inputs' first-layer kernels and correlation.
DEEP = [(name, *point, K11, c, K22)
        for name, points in [
            ("tanh", [_critical("tanh"), (0.05, 1.5), (0.3, 2.5)]),
            ("erf", [_critical("erf"), (0.1, 2.0)]),
            ("gelu", [_critical("gelu"), (0.3, 1.5)]),
            ("silu", [_critical("silu"), (0.2, 1.2)]),
            ("selu", [_critical("selu"), (0.1, 0.8)]),
            ("elu", [_critical("elu"), (0.2, 1.8)]),
            ("elu(alpha=0.5)", [(0.05, 1.6)]),
            ("sigmoid", [(0.0, 4.0), (0.5, 10.0)]),
            ("softplus", [(0.0, 1.0), (0.1, 0.5)]),
            ("sin", [_critical("sin"), (0.1, 1.7)]),
            ("relu", [(0.0, 2.0), (0.1, 2.2)]),
            ("leaky_relu(negative_slope=0.2)", [(0.0, 1.9), (0.3, 1.0)]),
            ("linear", [(0.0, 1.0), (0.1, 0.95)])]
        for point in points
        for K11, c, K22 in [(1.0, 0.6, 2.0)]]
DEEP += [("tanh", 0.0, 1.0, 20.0, -0.9, 0.5), ("gelu", 0.0, 1.9, 0.01, 0.99, 5.0),
         ("elu", 0.1, 1.0, 3.0, -0.3, 3.0), ("sin", 0.0, 1.2, 2.0, -0.5, 0.3),
         ("sigmoid", 0.2, 6.0, 0.01, 0.3, 50.0)]


def check_deep(name: str, C_b: float, C_W: float, K11: float, c: float, K22: float, depth: int,
               correlation: bool = True) -> None:
  """K(l) of both inputs and their correlation c(l) over ``depth`` layers to 1e-6 relative."""
  with jax.enable_x64(True):
    for K1 in (K11, K22):
      want = ref.kernel_recursion(name, C_b, C_W, K1, depth)
      np.testing.assert_allclose(theory.kernel_recursion(name, C_b, C_W, K1, depth), want,
                                 rtol=RTOL, err_msg=f"K(l) of {name} at {C_b}, {C_W}, {K1}")
    if correlation:
      K12 = c * math.sqrt(K11 * K22)
      want = ref.correlation_recursion(name, C_b, C_W, K11, K12, K22, depth)
      got = theory.correlation_recursion(name, C_b, C_W, K11, K12, K22, depth)
      np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-9,
                                 err_msg=f"c(l) of {name} at {C_b}, {C_W}")


def test_deep_kernels_to_1e_6() -> None:
  """20 layers of K(l) for every sixth configuration, and the correlation map over 4 layers for a
  saturating activation off criticality; all of DEEP (>= 30), both over 20 layers, is slow."""
  assert len(DEEP) >= 30
  for config in DEEP[::6]:
    check_deep(*config, depth=20, correlation=False)
  check_deep("tanh", 0.05, 1.5, 1.0, 0.6, 2.0, depth=4)


@pytest.mark.slow
@pytest.mark.parametrize("config", DEEP, ids=lambda c: f"{c[0]}-{c[1]:.3g}-{c[2]:.3g}-{c[3]:g}")
def test_deep_kernels_and_correlations_to_1e_6(config: tuple) -> None:
  check_deep(*config, depth=20)
