"""Gains: the factor by which an initializer's standard deviation is multiplied for an activation.

Two definitions, named apart because they disagree for most activations:

* :func:`torch_gain` is the table of ``torch.nn.init.calculate_gain`` (a convention: tanh 5/3,
  selu 3/4 are rules of thumb, not derived values).
* :func:`variance_preserving_gain` is derived for any activation (a function too): the gain ``g`` with
  ``g^2 <s(z)^2>_K = K``, so a layer with ``Var W = g^2 / fan_in`` and zero bias keeps the
  preactivation second moment ``K`` (the fixed-point condition of the kernel recursion
  ``K' = C_W <s^2>_K`` with ``C_W = g^2``). It equals the torch value for relu, leaky relu and
  linear, and differs for the others (tanh 1.5925 vs 5/3, selu 1.0 vs 3/4, sigmoid 1.8462 vs 1).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxinit import names
from jaxinit.theory import Act, as_activation, second_moment

__all__ = ["torch_gain", "variance_preserving_gain", "TORCH_GAIN_ACTIVATIONS"]

TORCH_GAIN_ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu")


def torch_gain(activation: Act) -> float:
  """Returns ``torch.nn.init.calculate_gain`` for an activation.

  Args:
    activation: name or :class:`~jaxinit.activations.Activation`; one of linear (identity),
      sigmoid, tanh, relu, leaky_relu(negative_slope) and selu.

  Returns:
    1 for linear and sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + a^2)) for leaky relu
    with slope ``a``, 3/4 for selu.

  Raises:
    ValueError: for an activation the torch table does not list (use
      :func:`variance_preserving_gain` instead).
  """
  act = as_activation(activation)
  base = act.kind
  if base == "leaky_relu":
    a = dict(act.params)["negative_slope"]
    return math.sqrt(2.0 / (1.0 + a * a))
  table = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 0.75}
  if base not in table:
    raise ValueError(
        f"torch's gain table has no entry for {act.name!r}; accepted: "
        f"{', '.join(TORCH_GAIN_ACTIVATIONS)}; use variance_preserving_gain for any activation")
  return table[base]


def variance_preserving_gain(activation: Act, K: jax.typing.ArrayLike = 1.0) -> jax.Array:
  r"""Returns the gain that keeps the preactivation second moment ``K`` through a layer.

  :math:`g = \sqrt{K / \langle s(z)^2 \rangle_K}`, :math:`z \sim N(0, K)`, with
  :func:`jaxinit.theory.second_moment` (closed forms for relu, leaky relu, linear, erf and sin,
  :func:`jaxinit.theory.panel_rule` quadrature otherwise).

  Args:
    activation: name, :class:`~jaxinit.activations.Activation` or elementwise function
      (:func:`jaxinit.theory.as_activation`).
    K: the preactivation variance to preserve (default 1); may be traced.

  Returns:
    A scalar array: sqrt(2) for relu, 1 for linear and selu, 1.5925 for tanh at ``K = 1``.
  """
  K = names.check_number("K", "variance_preserving_gain", K, minimum=0.0, strict=True)
  K = jnp.asarray(K, dtype=jnp.result_type(float))
  return jnp.sqrt(K / second_moment(activation, K))
