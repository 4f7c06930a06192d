"""Weight initializers: pure ``init(key, shape, dtype) -> Array`` functions with canonical names.

Every scheme follows the ``jax.nn.initializers`` calling convention, so it can be passed as
``kernel_init=`` to ``flax.linen.Dense``/``Conv`` and ``flax.nnx.Linear``/``Conv``. Schemes are built
by factories taking keyword parameters (``normal(stddev=0.01)``) or by name
(``get("normal(stddev=0.01)")``); every built scheme's ``name`` prints its canonical string back.

Conventions, where jaxinit deliberately differs from ``jax.nn.initializers``:

* **Layout and fans.** Kernels are in the Flax layout ``(..., in, out)``: ``fan_in = in * r``,
  ``fan_out = out * r`` with ``r`` the product of the leading (receptive field) dims. A 1-D shape
  ``(n,)`` has ``fan_in = fan_out = n`` and a 0-D shape ``fan_in = fan_out = 1`` (the Keras policy;
  jax raises). Orthogonal, delta-orthogonal and identity need a matrix and raise on 0-D/1-D shapes.
  Other layouts name their axes as ``jax.nn.initializers`` does: every fan-based scheme takes
  ``in_axis``, ``out_axis``, ``batch_axis`` (``he_normal(in_axis=-1, out_axis=-2)`` for an
  ``(out, in)`` weight), ``orthogonal`` its ``column_axis``; :meth:`Initializer.fans` reads them.
* **Empty shapes** (a dimension of size 0) return an empty array (jax raises ZeroDivisionError).
* **dtypes.** Only floating dtypes are accepted; integer, bool and complex dtypes raise TypeError.
  float16/bfloat16 are sampled in float32 and cast (sampling in bfloat16 gives ~128 distinct values).
* **uniform(low, high)** is symmetric by default, U(-1, 1); jax's ``uniform(scale)`` is U[0, scale).
* **truncated_normal(stddev)** has standard deviation ``stddev`` after truncation; jax's
  ``truncated_normal(stddev)`` has ``stddev`` before truncation (0.88 x smaller after).
* **he_normal, glorot_normal, lecun_normal** draw from a plain normal, as in the papers and torch;
  jax and Keras draw these from a truncated normal, which is ``*_truncated_normal`` here.

Numeric parameters (stddev, scale, gain, low, high, value) may be traced arrays, so a scale can be
swept with ``jax.vmap``; their names then print ``<traced>``.

Every draw is one compiled program (``jax.jit`` with the parameters as constants), so it is
bit-identical eagerly, under ``jit`` and inside a ``jit(vmap(...))`` population; op-by-op eager
arithmetic would round differently from XLA's fused code.

This module is the public namespace and the name registry (:data:`FACTORIES`, :data:`ALIASES`,
:func:`get`). The schemes are defined by concern: :mod:`jaxinit.initializers.distributions` (zeros, ones,
constant, normal, uniform, truncated_normal), :mod:`jaxinit.initializers.variance_scaling`
(variance_scaling,
Glorot, LeCun, He, simple_xavier) and :mod:`jaxinit.initializers.structured` (orthogonal,
delta_orthogonal,
identity), on the :class:`Initializer` type of :mod:`jaxinit.initializers.base`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from jaxinit import names
from jaxinit.initializers.base import DTypeLike as DTypeLike
from jaxinit.initializers.base import Initializer, Target, fans
from jaxinit.initializers.base import Shape as Shape
from jaxinit.initializers.distributions import MIN_BOUND as MIN_BOUND
from jaxinit.initializers.distributions import constant, normal, ones, truncated_normal, uniform, zeros
from jaxinit.initializers.structured import delta_orthogonal, identity, orthogonal
from jaxinit.initializers.variance_scaling import DISTRIBUTIONS as DISTRIBUTIONS
from jaxinit.initializers.variance_scaling import MODES as MODES
from jaxinit.initializers.variance_scaling import (
  glorot_normal,
  glorot_truncated_normal,
  glorot_uniform,
  he_normal,
  he_truncated_normal,
  he_uniform,
  lecun_normal,
  lecun_truncated_normal,
  lecun_uniform,
  simple_xavier,
  variance_scaling,
)

__all__ = [
    "Initializer", "Target", "fans", "get", "known", "ALIASES", "FACTORIES",
    "zeros", "ones", "constant", "normal", "uniform", "truncated_normal", "variance_scaling",
    "glorot_normal", "glorot_uniform", "glorot_truncated_normal", "simple_xavier",
    "lecun_normal", "lecun_uniform", "lecun_truncated_normal",
    "he_normal", "he_uniform", "he_truncated_normal",
    "orthogonal", "delta_orthogonal", "identity",
]

# Canonical name -> factory; `get` builds from it, `jaxinit schemes` lists its signatures.
FACTORIES: dict[str, Callable[..., Initializer]] = {
    f.__name__: f for f in (
        zeros, ones, constant, normal, uniform, truncated_normal, variance_scaling,
        glorot_normal, glorot_uniform, glorot_truncated_normal, simple_xavier,
        lecun_normal, lecun_uniform, lecun_truncated_normal,
        he_normal, he_uniform, he_truncated_normal, orthogonal, delta_orthogonal, identity)
}

ALIASES: dict[str, str] = {
    "xavier_normal": "glorot_normal",
    "xavier_uniform": "glorot_uniform",
    "xavier_truncated_normal": "glorot_truncated_normal",
    "normalized_xavier": "glorot_uniform",
    "kaiming_normal": "he_normal",
    "kaiming_uniform": "he_uniform",
    "kaiming_truncated_normal": "he_truncated_normal",
    "xavier2": "he_normal",
    "torch_default": "simple_xavier",
    "random_uniform": "uniform(low=-0.05, high=0.05)",  # Keras RandomUniform defaults
    "random_normal": "normal(stddev=0.05)",  # Keras RandomNormal defaults
    "small_normal": "normal(stddev=0.01)",
    "large_normal": "normal(stddev=10.0)",  # the "large random" init of the two-moons tutorial
    "eye": "identity",
    "dirac": "identity",
}


def known() -> list[str]:
  """Returns the canonical scheme names (without aliases), sorted."""
  return sorted(FACTORIES)


def get(name: str | Initializer) -> Initializer:
  """Builds a scheme from its canonical string or an alias.

  Args:
    name: e.g. ``"he_normal"``, ``"kaiming_normal"``, ``"normal(stddev=0.01)"``,
      ``"constant(0.005)"``, ``"variance_scaling(scale=2.0, mode=fan_in, distribution=uniform)"``;
      an :class:`Initializer` is returned as it is.

  Returns:
    The :class:`Initializer`; ``get(n).name`` is the canonical string, and
    ``get(get(n).name).name == get(n).name``.

  Raises:
    ValueError: an unknown name (the message lists the known names and aliases), parameters the
      scheme does not take, or parameter values out of range.

  >>> get("kaiming_normal").name
  'he_normal'
  """
  if isinstance(name, Initializer):
    return name
  return _build(name)


@functools.lru_cache(maxsize=1024)
def _build(name: str) -> Initializer:
  # Initializers are immutable: one object per name, so its compiled draws are reused.
  return names.build(name, FACTORIES, ALIASES, "initializer")
