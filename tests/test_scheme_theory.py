"""Tests of jaxinit.schemes.predictions: the variances a scheme sets, its kernel and fourth-moment
predictions against closed forms and Monte Carlo."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinit import initializers, theory
from jaxinit.nets import models
from jaxinit.schemes import predictions
from jaxinit.theory import finite_width

MLP = models.ModelConfig(widths=(100, 50, 10), activation="tanh")


@pytest.mark.parametrize(("scheme", "scale", "c_w", "c_b"), [
    ("he_normal", 1.0, [2.0, 2.0, 2.0], [0.0] * 3),
    ("he_uniform", 3.0, [18.0, 18.0, 18.0], [0.0] * 3),
    ("glorot_normal", 1.0, [2 * 784 / 884, 2 * 100 / 150, 2 * 50 / 60], [0.0] * 3),
    ("normal(stddev=0.01)", 1.0, [1e-4 * 784, 1e-2, 5e-3], [0.0] * 3),
    ("orthogonal(gain=2.0)", 1.0, [4.0, 4.0, 4.0], [0.0] * 3),
    ("layers(he_normal, lecun_normal, zeros, bias=normal(stddev=0.5))", 1.0, [2.0, 1.0, 0.0],
     [0.25] * 3),
])
def test_layer_variances_are_fan_in_times_the_entry_variance(scheme, scale, c_w, c_b) -> None:
  """C_W(l) = fan_in(l) Var W(l) scale^2 and C_b(l) = Var b(l), layer by layer (orthogonal: the
  mean square of a semi-orthogonal matrix, gain^2 / max(fan_in, fan_out) per entry)."""
  C_W, C_b = predictions.layer_variances(scheme, MLP, (784,), scale)
  np.testing.assert_allclose(C_W, c_w, rtol=1e-6)
  np.testing.assert_allclose(C_b, c_b, rtol=1e-6)
  crit = theory.critical_point("tanh")
  C_W, C_b = predictions.layer_variances("critical(tanh)", MLP, (784,))
  np.testing.assert_allclose(C_W, crit.C_W, rtol=1e-6) and np.testing.assert_allclose(C_b, crit.C_b)


@pytest.mark.parametrize(("scheme", "config"), [
    ("lsuv", MLP), ("constant(0.1)", MLP), ("layers(he_normal, he_normal, he_normal, "
                                            "bias=constant(0.1))", MLP), ("identity", MLP),
    ("he_normal", models.ModelConfig(widths=(8, 10), kind="cnn", channels=(4,))),
    ("he_normal", models.ModelConfig(widths=(8, 1), batch_norm=True)),
])
def test_no_prediction_where_the_recursion_does_not_apply(scheme, config) -> None:
  shape = (28, 28, 1) if config.kind == "cnn" else (784,)
  assert predictions.layer_variances(scheme, config, shape) is None


def test_kernel_prediction_is_the_recursion() -> None:
  """Constant variances reduce to theory.kernel_recursion; per layer, each step uses its own."""
  K = predictions.kernel_prediction("tanh", np.full(5, 1.5), np.full(5, 0.1), np.array([0.6]))
  np.testing.assert_allclose(K[0], theory.kernel_recursion("tanh", 0.1, 1.5, 0.1 + 1.5 * 0.6, 5),
                             rtol=1e-6)  # both float32 (jax's default)
  K = predictions.kernel_prediction("erf", np.array([1.0, 3.0]), np.array([0.0, 0.2]), 2.0)
  np.testing.assert_allclose(K, [2.0, 0.2 + 3.0 * float(theory.second_moment("erf", 2.0))])


def test_glorot_tanh_kernel_through_depth_is_the_prediction() -> None:
  """A wide tanh MLP at Glorot (not critical, C_W different in every layer): the measured G(l) =
  mean z(l)^2 over units and examples, averaged over 8 seeds, is within 4 standard errors (over
  seeds) plus 1/n of the recursion at each example's q0, averaged over the examples."""
  n, d, seeds = 512, 20, 8
  cfg = models.ModelConfig(widths=(n, n // 2, n, 10), activation="tanh")
  model = models.build(cfg, kernel_init=initializers.get("glorot_normal"))
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.normal(size=(32, d)).astype(np.float32) * 2)

  @jax.jit
  def kernels(keys: jax.Array) -> jax.Array:
    def one(key: jax.Array) -> jax.Array:
      sown = models.logits_and_intermediates(model, model.init(key, x[:1]), x)[1]
      return jnp.stack([jnp.mean(sown[f"preact_{i}"] ** 2) for i in range(cfg.depth)])
    return jax.vmap(one)(keys)

  g_SL = np.asarray(kernels(jax.vmap(jax.random.key)(jnp.arange(seeds))), np.float64)
  q0 = np.mean(np.asarray(x, np.float64) ** 2, axis=1)
  predicted = predictions.kernel_prediction(
      "tanh", *predictions.layer_variances("glorot_normal", cfg, (d,)), q0).mean(axis=0)
  se = g_SL.std(0, ddof=1) / math.sqrt(seeds)
  assert np.all(np.abs(g_SL.mean(0) - predicted) < 4 * se + predicted / (n // 2)), (
      g_SL.mean(0), predicted, se)


def test_fourth_moment_prediction_where_finite_width_theory_applies() -> None:
  relu = models.ModelConfig(widths=(64,) * 6, activation="relu")
  x = np.ones(16, np.float32)
  np.testing.assert_allclose(predictions.fourth_moment_prediction("he_normal", relu, (16,), x),
                             finite_width.fourth_moment_ratio("relu", [64] * 6))
  tanh = models.ModelConfig(widths=(64,) * 6, activation="tanh")
  got = predictions.fourth_moment_prediction("critical(tanh)", tanh, (16,), x)
  K, kappa4 = finite_width.kappa4_recursion("tanh", 0.0, 1.0, 1.0, [64] * 6)
  np.testing.assert_allclose(got, 3 + 3 * np.asarray(kappa4, np.float64) / np.asarray(K) ** 2,
                             rtol=1e-6)
  for scheme in ("he_uniform", "orthogonal", "zeros"):  # not Gaussian, or deterministic
    assert predictions.fourth_moment_prediction(scheme, tanh, (16,), x) is None, scheme
  varying = models.ModelConfig(widths=(64, 32, 64, 10), activation="tanh")  # Glorot's C_W varies
  assert predictions.fourth_moment_prediction("glorot_normal", varying, (16,), x) is None
  assert predictions.fourth_moment_prediction("glorot_normal", tanh, (16,), x) is not None
