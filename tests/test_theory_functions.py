"""The theory with an activation given as a function (``jaxinit.theory.as_activation``): the same
results as the registered activation it equals, and a new one (mish) checked against scipy.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from jaxinit import theory
from jaxinit.theory import finite_width, gains, isometry


def mish(x):
  return x * jnp.tanh(jax.nn.softplus(x))


def _gaussian_quad(f, K):
  """E f(z), z ~ N(0, K), by adaptive scipy quadrature on each side of 0 (independent of jaxinit)."""
  g = lambda z: f(z) * math.exp(-z * z / (2 * K)) / math.sqrt(2 * math.pi * K)
  s = math.sqrt(K)
  return sum(integrate.quad(g, a, b, epsabs=1e-13, epsrel=1e-12, limit=400)[0]
             for a, b in ((-14 * s, 0.0), (0.0, 14 * s)))


@pytest.mark.parametrize(("name", "functions"), [
    ("tanh", (jnp.tanh, lambda x: jnp.tanh(x))),  # K* = 0 class
    ("relu", (jax.nn.relu, lambda x: jnp.maximum(x, 0.0))),  # scale-invariant class
    pytest.param("silu", (lambda x: x * jax.nn.sigmoid(x),), marks=pytest.mark.slow),  # numerical
])
def test_critical_point_of_a_function_is_that_of_the_registered_activation(name, functions):
  named = theory.critical_point(name)
  for f in functions:
    crit = theory.critical_point(f)
    assert crit.kind == named.kind
    np.testing.assert_allclose(crit[:3], named[:3], rtol=1e-12, atol=0)  # nan == nan for relu
    assert theory.critical_point(f) is crit  # cached per function


def test_critical_point_of_mish_satisfies_the_criticality_equations():
  """chi_1 = chi_perp = C_W <s'^2> = 1, chi_par = C_W d<s^2>/dK = 1 and K* = C_b + C_W <s^2>, by
  scipy quadrature of mish and its derivative written out in plain Python."""
  crit = theory.critical_point(lambda x: x * jnp.tanh(jax.nn.softplus(x)))
  assert crit.kind == "numerical" and crit.C_b > 0
  softplus = lambda z: math.log1p(math.exp(-abs(z))) + max(z, 0.0)
  s = lambda z: z * math.tanh(softplus(z))
  ds = lambda z: math.tanh(softplus(z)) + z * (1 - math.tanh(softplus(z)) ** 2) / (1 + math.exp(-z))
  C_b, C_W, K = crit.C_b, crit.C_W, crit.K_star
  assert C_W * _gaussian_quad(lambda z: ds(z) ** 2, K) == pytest.approx(1.0, abs=1e-8)
  chi_par = C_W * _gaussian_quad(lambda z: s(z) ** 2 * (z * z - K), K) / (2 * K * K)  # Stein
  assert chi_par == pytest.approx(1.0, abs=1e-8)
  assert C_b + C_W * _gaussian_quad(lambda z: s(z) ** 2, K) == pytest.approx(K, rel=1e-8)


def test_functions_of_one_name_are_not_confused():
  """Two lambdas are both named <lambda>; results cached per activation stay their own."""
  steep = lambda x: jnp.tanh(2 * x)
  flat = lambda x: jnp.tanh(x)
  assert theory.as_activation(steep).name == theory.as_activation(flat).name == "<lambda>"
  assert theory.as_activation(steep) != theory.as_activation(flat)
  assert theory.as_activation(steep) == theory.as_activation(steep)
  assert pytest.approx(1 / 4, rel=1e-12) == theory.critical_point(steep).C_W  # 1 / s'(0)^2
  assert pytest.approx(1.0, rel=1e-12) == theory.critical_point(flat).C_W


@pytest.mark.slow
def test_programs_compiled_for_one_function_are_not_reused_for_another():
  """fixed_point compiles once per activation (a static argument): two lambdas, two programs."""
  steep = lambda x: jnp.tanh(2 * x)
  flat = lambda x: jnp.tanh(x)
  K_steep, K_flat = (float(theory.fixed_point(f, 0.1, 1.5)) for f in (steep, flat))
  assert K_flat == pytest.approx(float(theory.fixed_point("tanh", 0.1, 1.5)), rel=1e-6)
  assert K_steep > 1.2 * K_flat
  assert 0.1 + 1.5 * float(theory.second_moment(steep, K_steep)) == pytest.approx(K_steep, rel=1e-5)


@pytest.mark.parametrize("entry", [
    lambda a: theory.second_moment(a, 0.7),
    pytest.param(lambda a: theory.derivative_moment(a, 0.7), marks=pytest.mark.slow),
    lambda a: theory.chi_parallel(a, 1.3, 0.7),
    lambda a: theory.kernel_recursion(a, 0.1, 1.3, 0.7, 4),
    pytest.param(lambda a: jnp.stack(theory.correlation_step(a, 0.1, 1.3, 0.7, 0.3, 0.9)),
                 marks=pytest.mark.slow),
    lambda a: finite_width.fourth_moment(a, 0.7),
    lambda a: isometry.derivative_fourth_moment(a, 0.7),
    lambda a: gains.variance_preserving_gain(a, 0.7),
])
def test_theory_entry_points_take_a_function(entry):
  """The same number as for the registered tanh (a function goes through autodiff where tanh has
  its derivative written out: float32 rounding apart)."""
  np.testing.assert_allclose(entry(lambda x: jnp.tanh(x)), entry("tanh"), rtol=2e-6)


@pytest.mark.parametrize(("activation", "error", "message"), [
    (lambda x: np.tanh(np.asarray(x)), ValueError,
     r"activation <lambda> cannot be traced by JAX \(TracerArrayConversionError: .*\); accepted: an "
     "elementwise function written with jax.numpy"),
    (jnp.sum, ValueError, r"activation <sum> maps a float32 array of shape \(3,\) to .*; accepted: an "
     "elementwise function"),
    (lambda x: x > 0, ValueError, r"maps a float32 array of shape \(3,\) to .*bool"),
    (3, TypeError, r"activation 3 is a int; accepted: a name such as 'tanh', an Activation, or an"),
    ("mish", ValueError, r"unknown activation 'mish'"),
])
def test_activations_that_are_not_elementwise_jax_functions_are_refused(activation, error, message):
  with pytest.raises(error, match=message) as caught:
    theory.critical_point(activation)
  assert "\n" not in str(caught.value)


def test_torch_gain_refuses_a_function_by_name():
  with pytest.raises(ValueError, match=r"no entry for '<mish>'; accepted: .*variance_preserving_gain"):
    gains.torch_gain(mish)
