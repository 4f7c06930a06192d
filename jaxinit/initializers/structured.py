"""Structured schemes, whose entries are not independent: orthogonal, delta-orthogonal, identity.

Each needs a matrix or a conv kernel in the Flax layout ``(..., in, out)`` and raises ValueError on
0-D and 1-D shapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import names
from jaxinit.initializers.base import Initializer, Shape, Target, canonical_name, check_axes, from_draw

__all__ = ["orthogonal", "delta_orthogonal", "identity"]

_GAIN = {"gain": 1.0}


def _at_least_2d(kind: str) -> Callable[[Shape], None]:
  def validate(shape: Shape) -> None:
    if len(shape) < 2:
      raise ValueError(f"{kind}: shape {shape} has {len(shape)} dimensions; accepted: a kernel "
                       "with at least 2, in the Flax layout (..., in, out)")
  return validate


def orthogonal(gain: float = 1.0, *, column_axis: int = -1) -> Initializer:
  """Orthogonal: ``gain`` times a matrix with orthonormal columns (tall, square) or rows (wide).

  The kernel with ``column_axis`` moved last and reshaped to ``(rows, cols)``, ``cols =
  shape[column_axis]`` and ``rows`` the product of the other dims, has W^T W = gain^2 I (rows >=
  cols) or W W^T = gain^2 I (rows < cols). Bit-identical to ``jax.nn.initializers.orthogonal(
  scale=gain, column_axis=column_axis)`` in float32.

  Args:
    gain: multiplies the matrix; may be traced.
    column_axis: the axis of the columns, as in ``jax.nn.initializers.orthogonal``: -1 (the output
      axis of the Flax layout ``(..., in, out)``), or e.g. 0 for an ``(out, in)`` weight (equinox,
      torch) whose outputs should be orthonormal in the same sense.

  Raises:
    ValueError: a ``column_axis`` that is not an int, or one out of range for a shape (when drawn).

  References:
    Saxe, McClelland & Ganguli (2014), "Exact solutions to the nonlinear dynamics of learning in deep
    linear neural networks", ICLR.
  """
  gain = names.check_number("gain", "orthogonal", gain)
  column_axis = check_axes("orthogonal", "column_axis", column_axis, many=False)
  name = canonical_name("orthogonal", {**_GAIN, "column_axis": -1}, gain=gain, column_axis=column_axis)
  at_least_2d = _at_least_2d("orthogonal")

  def validate(shape: Shape) -> None:
    at_least_2d(shape)
    if not -len(shape) <= column_axis < len(shape):
      raise ValueError(f"{name}: column_axis={column_axis} is out of range for shape {shape}; "
                       f"accepted: an axis from {-len(shape)} to {len(shape) - 1}")

  def target(shape: Shape) -> Target:
    cols = shape[column_axis]
    rows = math.prod(shape) // cols
    return Target("orthogonal", 0.0, float(gain) * float(gain) / max(rows, cols))

  def draw(key: jax.Array, shape: Shape, dtype: np.dtype) -> jax.Array:
    return jax.nn.initializers.orthogonal(scale=gain, column_axis=column_axis)(key, shape, dtype)

  return from_draw(name, "gain * Q, Q^T Q = I (tall) or Q Q^T = I (wide)", draw, target, validate)


def delta_orthogonal(gain: float = 1.0) -> Initializer:
  """Delta-orthogonal: a conv kernel zero except its centre tap, ``gain`` times orthonormal rows.

  The kernel is ``(spatial..., in, out)`` with 1 to 3 spatial dims and ``in <= out``.
  Bit-identical to ``jax.nn.initializers.delta_orthogonal(scale=gain)`` in float32.

  Args:
    gain: multiplies the centre tap; may be traced.

  References:
    Xiao, Bahri, Sohl-Dickstein, Schoenholz & Pennington (2018), "Dynamical Isometry and a Mean
    Field Theory of CNNs", ICML, Algorithm 2.
  """
  gain = names.check_number("gain", "delta_orthogonal", gain)

  def validate(shape: Shape) -> None:
    if not 3 <= len(shape) <= 5:
      raise ValueError(f"delta_orthogonal: shape {shape} has {len(shape)} dimensions; accepted: a "
                       "conv kernel (spatial..., in, out) with 1 to 3 spatial dims")
    if shape[-2] > shape[-1]:
      raise ValueError(f"delta_orthogonal: shape {shape} has in={shape[-2]} > out={shape[-1]}; "
                       "accepted: in <= out (an isometry needs at least as many outputs)")

  return from_draw(
      canonical_name("delta_orthogonal", _GAIN, gain=gain),
      "centre tap gain * Q (Q Q^T = I), zero elsewhere",
      lambda key, shape, dtype: jax.nn.initializers.delta_orthogonal(scale=gain)(key, shape, dtype),
      lambda shape: Target("delta_orthogonal", 0.0,
                           float(gain) * float(gain) * shape[-2] / math.prod(shape)),
      validate)


def identity(gain: float = 1.0) -> Initializer:
  """Identity: ``gain`` times the rectangular ``eye(in, out)``, at the centre tap of a conv kernel.

  The centre is the tap ``(k - 1) // 2`` of each spatial dim, so a Flax conv with ``SAME`` padding
  starts as the identity map (torch's ``dirac_`` uses ``k // 2``, which differs for even kernel
  sizes).

  Args:
    gain: multiplies the identity; may be traced.
  """
  gain = names.check_number("gain", "identity", gain)

  def draw(key: jax.Array, shape: Shape, dtype: np.dtype) -> jax.Array:
    eye = jnp.array(gain, dtype) * jnp.eye(shape[-2], shape[-1], dtype=dtype)
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    return jnp.zeros(shape, dtype).at[centre].set(eye)

  def target(shape: Shape) -> Target:
    ones = min(shape[-2:]) / math.prod(shape)  # fraction of entries equal to gain
    return Target("identity", float(gain) * ones, float(gain) * float(gain) * ones * (1 - ones))

  return from_draw(canonical_name("identity", _GAIN, gain=gain),
                   "gain * I (centre tap for conv kernels)", draw, target, _at_least_2d("identity"))
