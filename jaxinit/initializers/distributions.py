"""Fixed distributions: constants, normal, uniform and truncated normal with given parameters.

Their parameters do not depend on the shape (for fan-scaled schemes see
:mod:`jaxinit.initializers.variance_scaling`). The truncated-normal helpers here are shared with it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import names
from jaxinit.initializers.base import (
    Affine,
    Initializer,
    Shape,
    Target,
    canonical_name,
    flat,
    from_draw,
    is_concrete,
)

__all__ = ["zeros", "ones", "constant", "normal", "uniform", "truncated_normal", "MIN_BOUND"]

# Below ~0.01 the closed-form std of the truncated normal loses its digits to cancellation.
MIN_BOUND = 0.01


def _concrete(*values: Any) -> bool:
  return all(is_concrete(v) for v in values)


def _fixed(name: str, value: Any) -> Initializer:
  return from_draw(name, repr(value) if is_concrete(value) else "value",
                   lambda key, shape, dtype: jnp.full(shape, value, dtype),
                   lambda shape: Target("constant", float(value), 0.0),
                   affine=(lambda shape: Affine("constant", 0.0, value)) if _concrete(value) else None)


def zeros() -> Initializer:
  """All zeros (the symmetric start that never breaks symmetry)."""
  return _fixed("zeros", 0.0)


def ones() -> Initializer:
  """All ones."""
  return _fixed("ones", 1.0)


def constant(value: float = 0.0) -> Initializer:
  """Every entry equal to ``value``; the name is positional, ``constant(0.005)``."""
  value = names.check_number("value", "constant", value)
  init = _fixed(names.format_call("constant", (value,)), value)
  return dataclasses.replace(init, formula="value")


def normal(stddev: float = 1.0) -> Initializer:
  """N(0, stddev^2), independent entries. ``stddev`` may be traced."""
  stddev = names.check_number("stddev", "normal", stddev, minimum=0.0)
  return from_draw(
      names.format_call("normal", kwargs={"stddev": stddev}), "N(0, stddev^2)",
      lambda key, shape, dtype: flat(jax.random.normal, key, shape, dtype) * jnp.array(stddev, dtype),
      lambda shape: Target("normal", 0.0, float(stddev) * float(stddev)),
      affine=(lambda shape: Affine("normal", stddev)) if _concrete(stddev) else None)


def uniform(low: float = -1.0, high: float = 1.0) -> Initializer:
  """U(low, high), symmetric U(-1, 1) by default (jax's ``uniform(scale)`` is U[0, scale))."""
  low = names.check_number("low", "uniform", low)
  high = names.check_number("high", "uniform", high)
  if is_concrete(low) and is_concrete(high) and not (low < high and math.isfinite(high - low)):
    raise ValueError(f"uniform: low={low}, high={high} is not accepted; accepted: low < high with "
                     "a finite width high - low")
  return from_draw(
      names.format_call("uniform", kwargs={"low": low, "high": high}), "U(low, high)",
      lambda key, shape, dtype: flat(jax.random.uniform, key, shape, dtype, low, high),
      lambda shape: Target("uniform", (float(low) + float(high)) / 2,
                           (float(high) - float(low)) ** 2 / 12, (float(high) - float(low)) / 2),
      affine=(lambda shape: Affine("uniform", low=low, high=high)) if _concrete(low, high) else None)


def truncated_std(bound: float) -> float:
  """Standard deviation of N(0, 1) truncated to [-bound, bound] (0.8796 at bound 2)."""
  phi = math.exp(-0.5 * bound * bound) / math.sqrt(2 * math.pi)
  return math.sqrt(1 - 2 * bound * phi / math.erf(bound / math.sqrt(2)))


def standard_truncated(key: jax.Array, shape: Shape, dtype: np.dtype, bound: float = 2.0
                       ) -> jax.Array:
  """N(0, 1) cut at +-bound (``jax.random.truncated_normal``), drawn flat (:func:`flat`)."""
  return flat(lambda k, sh, dt: jax.random.truncated_normal(k, -bound, bound, sh, dt), key, shape,
              dtype)


def draw_truncated(key: jax.Array, shape: Shape, dtype: np.dtype, std: jax.Array,
                   bound: float = 2.0) -> jax.Array:
  """N(0, sigma^2) truncated to +-bound sigma, with sigma chosen so the result has stddev ``std``."""
  return standard_truncated(key, shape, dtype, bound) * (std / jnp.array(truncated_std(bound), dtype))


def truncated_target(variance: float, bound: float = 2.0) -> Target:
  """The :class:`Target` of :func:`draw_truncated` with variance ``variance`` after truncation."""
  sigma = math.sqrt(variance) / truncated_std(bound)
  return Target("truncated_normal", 0.0, variance, bound * sigma, sigma)


def truncated_affine(std: np.float32, bound: float = 2.0) -> Affine:
  """The :class:`Affine` of :func:`draw_truncated` with float32 standard deviation ``std``: the
  scale ``std / truncated_std(bound)`` rounded as the draw rounds it."""
  return Affine("truncated_normal", np.float32(std) / np.float32(truncated_std(bound)), bound=bound)


def truncated_normal(stddev: float = 1.0, bound: float = 2.0) -> Initializer:
  """N(0, sigma^2) cut at +-bound sigma, sigma set so the standard deviation *after* truncation is
  ``stddev`` (sigma = stddev / 0.8796 at bound 2; jax's ``truncated_normal(stddev)`` uses sigma =
  stddev instead). ``stddev`` may be traced; ``bound`` is a Python float."""
  stddev = names.check_number("stddev", "truncated_normal", stddev, minimum=0.0)
  if not is_concrete(bound):
    raise TypeError("truncated_normal: bound must be a Python float, not a traced value; "
                    "accepted: a number >= 0.01 (only stddev may be traced)")
  bound = float(names.check_number("bound", "truncated_normal", bound, minimum=MIN_BOUND))
  return from_draw(
      canonical_name("truncated_normal", {"bound": 2.0}, stddev=stddev, bound=bound),
      "N(0, sigma^2) truncated to +-bound*sigma, stddev after truncation = stddev",
      lambda key, shape, dtype: draw_truncated(key, shape, dtype, jnp.array(stddev, dtype), bound),
      lambda shape: truncated_target(float(stddev) * float(stddev), bound),
      affine=(lambda shape: truncated_affine(np.float32(stddev), bound)) if _concrete(stddev) else None)
