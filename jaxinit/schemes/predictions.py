"""What signal-propagation theory predicts for a scheme: its per-layer variances and their kernels.

A scheme whose layers are drawn i.i.d. with a known variance (zeros, constants, normal, uniform,
truncated normal, the Glorot/LeCun/He family, orthogonal, ``critical(...)``, ``layers(...)`` of
those) sets, per layer ``l``, the weight and bias variances of infinite-width theory:
``C_W(l) = fan_in(l) Var W(l)`` (times the member's ``scale^2``) and ``C_b(l) = Var b(l)``. A
variance-scaling scheme need not be critical, nor the same in every layer (Glorot's ``C_W(l) = 2
fan_in / (fan_in + fan_out)``), so the kernel recursion here takes a ``C_W`` and ``C_b`` per layer:

.. math:: K(1) = C_b(1) + C_W(1)\\, q_0, \\qquad K(l+1) = C_b(l+1) + C_W(l+1) \\langle s^2
   \\rangle_{K(l)},

``q_0 = |x|^2 / n_0`` the input's mean square. Orthogonal kernels have the Gaussian kernels'
recursion at infinite width (the same second moments). The recursion is for zero-mean weights and
biases: the data-dependent schemes (LSUV, MetaInit), nonzero constants and the identity have no
such prediction (None).

The 1/n theory of :mod:`jaxinit.theory.finite_width` assumes Gaussian weights:
:func:`fourth_moment_prediction` gives ``E z^4 / E[z^2]^2`` where it applies.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from jaxinit import activations, initializers, theory
from jaxinit import schemes as scheme_registry
from jaxinit.nets import models
from jaxinit.schemes import programs
from jaxinit.theory import finite_width

__all__ = ["layer_variances", "kernel_prediction", "fourth_moment_prediction"]


def layer_variances(scheme: str, config: models.ModelConfig, input_shape: Sequence[int],
                    scale: float = 1.0) -> tuple[np.ndarray, np.ndarray] | None:
  """``(C_W (L,), C_b (L,))`` a scheme sets in each layer of an MLP, or None where theory has no
  prediction: a data-dependent scheme, weights or biases with a nonzero mean (a constant) or the
  identity, a CNN, BatchNorm (which sets its own scale), or a rule set (its layers are not read
  here).

  >>> cfg = models.ModelConfig(widths=(100, 50, 10))
  >>> layer_variances("glorot_normal", cfg, (784,))[0].round(4)
  array([1.7738, 1.3333, 1.6667])
  """
  s = scheme_registry.get(scheme)
  if s.refine is not None or s.rules is not None or config.kind != "mlp" or config.batch_norm:
    return None
  shapes = programs.layer_shapes(config, tuple(input_shape))
  kernels, biases = s.layer_inits(config.depth)
  k_targets = [k.target(k_shape) for k, (k_shape, _) in zip(kernels, shapes, strict=True)]
  b_targets = [b.target(b_shape) for b, (_, b_shape) in zip(biases, shapes, strict=True)]
  if any(t.mean != 0 or t.family == "identity" for t in (*k_targets, *b_targets)):
    return None  # the recursion is for zero-mean random weights and biases
  c_w = [t.variance * initializers.fans(k_shape)[0] * scale ** 2
         for t, (k_shape, _) in zip(k_targets, shapes, strict=True)]
  return np.asarray(c_w, np.float64), np.asarray([t.variance for t in b_targets], np.float64)


def kernel_prediction(activation: str, C_W: np.ndarray, C_b: np.ndarray, q0: np.ndarray
                      ) -> np.ndarray:
  """The infinite-width kernel ``K(l)`` of layers ``1..L`` for inputs of mean square ``q0``:
  :func:`jaxinit.theory.kernel_recursion` with one ``(C_b, C_W)`` per layer, for each input.

  Args:
    activation: the hidden nonlinearity's name.
    C_W, C_b: per-layer variances ``(L,)`` (:func:`layer_variances`).
    q0: the inputs' mean squares ``|x|^2 / n_0``, any shape ``S``.

  Returns:
    ``K`` of shape ``(*S, L)`` (float64).

  >>> kernel_prediction("relu", np.full(3, 2.0), np.zeros(3), np.array(0.5))
  array([1., 1., 1.])
  """
  act = activations.get(activation)
  q0 = np.asarray(q0, np.float64)
  depth = len(C_W)
  Ks = jax.vmap(lambda K1: theory.kernel_recursion(act, C_b, C_W, K1, depth))(
      C_b[0] + C_W[0] * q0.ravel())
  return np.asarray(Ks, np.float64).reshape(*q0.shape, depth)


def fourth_moment_prediction(scheme: str, config: models.ModelConfig, input_shape: Sequence[int],
                             x_one: np.ndarray, scale: float = 1.0) -> np.ndarray | None:
  """``E z^4 / E[z^2]^2`` of every layer over networks at the input ``x_one``, to O(1/n), where
  finite-width theory gives it: Gaussian kernels (normal-distributed initializers; the 1/n terms
  depend on the weights' fourth cumulant otherwise), zero biases or the same ``C_b``/``C_W`` in
  every layer after the first, no zero kernel. The scale-invariant class with zero biases gets the
  exact result (:func:`jaxinit.theory.finite_width.fourth_moment_ratio`), the others ``3 + 3 kappa4 /
  K^2`` (:func:`jaxinit.theory.finite_width.kappa4_recursion`). None elsewhere.

  Returns:
    ``(L,)`` float64, or None.
  """
  variances = layer_variances(scheme, config, input_shape, scale)
  if variances is None:
    return None
  C_W, C_b = variances
  if not np.all(C_W > 0):
    return None  # a zero layer: its preactivations are deterministic
  shapes = programs.layer_shapes(config, tuple(input_shape))
  kernels = scheme_registry.get(scheme).layer_inits(config.depth)[0]
  if any((f := k.affine(k_shape)) is None or f.base != "normal"
         for k, (k_shape, _) in zip(kernels, shapes, strict=True)):
    return None
  act = activations.get(config.activation)
  widths = list(config.widths)
  if act.kind in ("relu", "leaky_relu", "linear") and not np.any(C_b):
    return finite_width.fourth_moment_ratio(act, widths)
  if np.ptp(C_W[1:]) > 1e-12 * C_W[1:].max() or np.ptp(C_b[1:]) > 0:
    return None
  q0 = float(np.mean(np.asarray(x_one, np.float64) ** 2))
  K, kappa4 = finite_width.kappa4_recursion(act, C_b[-1], C_W[-1], C_b[0] + C_W[0] * q0, widths)
  K, kappa4 = np.asarray(K, np.float64), np.asarray(kappa4, np.float64)
  return 3 + 3 * kappa4 / K ** 2
