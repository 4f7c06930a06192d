"""Fan-scaled schemes: :func:`variance_scaling` and its named members (Glorot, LeCun, He, simple Xavier).

Each named scheme is ``variance_scaling`` with a fixed mode and distribution under its own canonical
name; ``*_normal`` draw from a plain normal as in the papers and torch, ``*_truncated_normal`` from the
truncated normal that ``jax.nn.initializers``' and Keras' ``*_normal`` use. Every one takes the fan
axes of ``jax.nn.initializers`` (``in_axis``, ``out_axis``, ``batch_axis``; :data:`AXES`), so an
``(out, in)`` weight (equinox, torch) or a stack of layers gets the fans of its layout; a canonical
name shows the axes that differ from the Flax layout's, ``he_normal(in_axis=-1, out_axis=-2)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
  check_axes,
  check_choice,
  fans,
  flat,
  from_draw,
  is_concrete,
)
from jaxinit.initializers.distributions import draw_truncated, truncated_affine, truncated_target

__all__ = [
    "variance_scaling", "glorot_normal", "glorot_uniform", "glorot_truncated_normal", "simple_xavier",
    "lecun_normal", "lecun_uniform", "lecun_truncated_normal",
    "he_normal", "he_uniform", "he_truncated_normal", "MODES", "DISTRIBUTIONS", "AXES",
]

MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")


AXES = {"in_axis": -2, "out_axis": -1, "batch_axis": ()}
"""The fan axes every scheme here takes, with ``jax.nn.initializers``' defaults (the Flax layout);
a canonical name shows only the ones that differ."""

Axes = int | Sequence[int]


def _axes(scheme: str, in_axis: Axes, out_axis: Axes, batch_axis: Axes) -> dict[str, Any]:
  """The three axis parameters checked and in canonical form, keyed as in :data:`AXES`."""
  given = {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis}
  axes = {k: check_axes(scheme, k, v, allow_empty=k == "batch_axis") for k, v in given.items()}
  flat_axes = [a for v in axes.values() for a in ((v,) if isinstance(v, int) else v)]
  if len(set(flat_axes)) != len(flat_axes):  # -1 and 1 may still meet on a 2-D shape: see fans
    raise ValueError(f"{scheme}: in_axis={in_axis!r}, out_axis={out_axis!r} and batch_axis="
                     f"{batch_axis!r} overlap; accepted: each axis in at most one of them")
  return axes


def variance_scaling(scale: float = 1.0, mode: str = "fan_in",
                     distribution: str = "truncated_normal", in_axis: Axes = -2, out_axis: Axes = -1,
                     batch_axis: Axes = ()) -> Initializer:
  r"""Entries with mean 0 and variance ``scale / n``, ``n`` the fan chosen by ``mode``.

  Args:
    scale: variance multiplier (C_W in signal-propagation notation), >= 0; may be traced.
    mode: ``fan_in``, ``fan_out``, ``fan_avg`` ((in + out) / 2) or ``fan_geo_avg`` (sqrt(in out)).
    distribution: ``normal``; ``truncated_normal`` (cut at 2 sigma, rescaled so the variance after
      truncation is ``scale / n``); ``uniform`` (U(+-sqrt(3 scale / n))).
    in_axis, out_axis, batch_axis: where the fans are read, as in ``jax.nn.initializers``
      (:func:`~jaxinit.initializers.base.fans`): ``in_axis=-1, out_axis=-2`` for an ``(out, in)``
      weight (equinox, torch), ``batch_axis=0`` for stacked layers ``(L, in, out)``.

  Returns:
    The initializer; for ``float32`` its output is bit-identical to
    ``jax.nn.initializers.variance_scaling`` with the same arguments and key.

  Raises:
    ValueError: a parameter out of range; an axis that is not an int or a tuple of ints, or one
      named twice (an axis out of range for a shape raises when that shape is drawn).
  """
  scheme = "variance_scaling"
  scale = names.check_number("scale", scheme, scale, minimum=0.0)
  check_choice("mode", scheme, mode, MODES)
  check_choice("distribution", scheme, distribution, DISTRIBUTIONS)
  axes = _axes(scheme, in_axis, out_axis, batch_axis)
  fan = {"fan_in": "fan_in", "fan_out": "fan_out", "fan_avg": "(fan_in + fan_out) / 2",
         "fan_geo_avg": "sqrt(fan_in * fan_out)"}[mode]
  formula = {"normal": f"N(0, scale / {fan})",
             "truncated_normal": f"truncated N(+-2 sigma) with variance scale / {fan}",
             "uniform": f"U(+-sqrt(3 scale / {fan}))"}[distribution]
  name = canonical_name(scheme, AXES, scale=scale, mode=mode, distribution=distribution, **axes)
  return _scaled(name, formula, scale, mode, distribution, axes)


def _scaled(name: str, formula: str, scale: Any, mode: str, distribution: str,
            axes: dict[str, Any]) -> Initializer:
  """The variance-scaling initializer of checked parameters, under ``name``."""

  def kernel_fans(shape: Shape) -> tuple[int, int]:
    try:
      return fans(shape, **axes)
    except ValueError as e:
      raise ValueError(f"{name}: {e}") from None

  def variance(shape: Shape) -> Any:
    fan_in, fan_out = kernel_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
         "fan_geo_avg": (fan_in * fan_out) ** 0.5}[mode]
    return scale / n

  def draw(key: jax.Array, shape: Shape, dtype: np.dtype) -> jax.Array:
    # The same arithmetic as jax.nn.initializers.variance_scaling, so float32 draws are identical.
    var = jnp.array(variance(shape), dtype)
    if distribution == "truncated_normal":
      return draw_truncated(key, shape, dtype, jnp.sqrt(var))
    if distribution == "normal":
      return flat(jax.random.normal, key, shape, dtype) * jnp.sqrt(var)
    return flat(jax.random.uniform, key, shape, dtype, -1) * jnp.sqrt(3 * var)

  def target(shape: Shape) -> Target:
    var = float(variance(shape))
    if distribution == "truncated_normal":
      return truncated_target(var)
    if distribution == "normal":
      return Target("normal", 0.0, var)
    return Target("uniform", 0.0, var, math.sqrt(3 * var))

  def affine(shape: Shape) -> Affine:
    var = np.float32(variance(shape))  # the float32 arithmetic of draw, on the host
    if distribution == "truncated_normal":
      return truncated_affine(np.sqrt(var))
    if distribution == "normal":
      return Affine("normal", np.sqrt(var))
    return Affine("uniform", np.sqrt(np.float32(3) * var))

  return from_draw(name, formula, draw, target, validate=kernel_fans,
                   affine=affine if is_concrete(scale) else None, kernel_fans=kernel_fans)


# ----------------------------------------------------------------------------- named members

_FORMS = {
    "normal": "N(0, {v})",
    "uniform": "U(+-sqrt(3 {v}))",
    "truncated_normal": "truncated N(+-2 sigma) with variance {v}",
}
_GLOROT = "gain^2 * 2 / (fan_in + fan_out)"
_LECUN = "gain^2 / fan_in"


def _named(kind: str, defaults: dict[str, Any], params: dict[str, Any], formula: str,
           scale: Any, mode: str, distribution: str, axes: dict[str, Any]) -> Initializer:
  """``variance_scaling(scale, mode, distribution, **axes)`` under the canonical name of
  ``kind(**params, **axes)``."""
  scale = names.check_number("scale", kind, scale, minimum=0.0)
  axes = _axes(kind, **axes)
  name = canonical_name(kind, {**defaults, **AXES}, **params, **axes)
  return _scaled(name, formula, scale, mode, distribution, axes)


def _gain_scaled(kind: str, gain: Any, mode: str, distribution: str, variance: str,
                 axes: dict[str, Any]) -> Initializer:
  """``kind(gain)``: variance ``gain^2 / fan`` for ``mode``, ``variance`` that formula in words."""
  gain = names.check_number("gain", kind, gain)
  return _named(kind, {"gain": 1.0}, {"gain": gain}, _FORMS[distribution].format(v=variance),
                gain * gain, mode, distribution, axes)


def _he(distribution: str, gain: Any, negative_slope: Any, mode: str, axes: dict[str, Any]
        ) -> Initializer:
  """``he_{distribution}``: variance ``gain^2 * 2 / ((1 + negative_slope^2) fan)``."""
  kind = f"he_{distribution}"
  gain = names.check_number("gain", kind, gain)
  negative_slope = names.check_number("negative_slope", kind, negative_slope)
  check_choice("mode", kind, mode, ("fan_in", "fan_out"))
  formula = _FORMS[distribution].format(v=f"gain^2 * 2 / ((1 + a^2) {mode})")
  scale = gain * gain * 2.0 / (1.0 + negative_slope * negative_slope)
  defaults = {"gain": 1.0, "negative_slope": 0.0, "mode": "fan_in"}
  params = {"gain": gain, "negative_slope": negative_slope, "mode": mode}
  return _named(kind, defaults, params, formula, scale, mode, distribution, axes)


def glorot_normal(gain: float = 1.0, *, in_axis: Axes = -2, out_axis: Axes = -1,
                  batch_axis: Axes = ()) -> Initializer:
  """Glorot normal: N(0, gain^2 * 2 / (fan_in + fan_out)).

  Args:
    gain: multiplies the standard deviation; may be traced.
    in_axis, out_axis, batch_axis: the fan axes, as in :func:`variance_scaling`.

  References:
    Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
    networks", eq. 16: its variance, drawn here from a plain normal (as torch's ``xavier_normal_``).
  """
  return _gain_scaled("glorot_normal", gain, "fan_avg", "normal", _GLOROT,
                      {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis})


def glorot_uniform(gain: float = 1.0, *, in_axis: Axes = -2, out_axis: Axes = -1,
                   batch_axis: Axes = ()) -> Initializer:
  """Glorot uniform: U(+-gain sqrt(6 / (fan_in + fan_out))), variance gain^2 * 2 / (fan_in + fan_out).

  Args:
    gain: multiplies the bound; may be traced.
    in_axis, out_axis, batch_axis: the fan axes, as in :func:`variance_scaling`.

  References:
    Glorot & Bengio (2010), eq. 16, their "normalized initialization".
  """
  return _gain_scaled("glorot_uniform", gain, "fan_avg", "uniform", _GLOROT,
                      {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis})


def glorot_truncated_normal(gain: float = 1.0, *, in_axis: Axes = -2, out_axis: Axes = -1,
                            batch_axis: Axes = ()) -> Initializer:
  """Glorot truncated normal: cut at +-2 sigma, variance gain^2 * 2 / (fan_in + fan_out) after it.

  With ``gain`` 1 it is ``jax.nn.initializers.glorot_normal``.

  Args:
    gain: multiplies the standard deviation; may be traced.
    in_axis, out_axis, batch_axis: the fan axes, as in :func:`variance_scaling`.

  References:
    Glorot & Bengio (2010), eq. 16 (its variance).
  """
  return _gain_scaled("glorot_truncated_normal", gain, "fan_avg", "truncated_normal", _GLOROT,
                      {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis})


def lecun_normal(gain: float = 1.0, *, in_axis: Axes = -2, out_axis: Axes = -1,
                 batch_axis: Axes = ()) -> Initializer:
  """LeCun normal: N(0, gain^2 / fan_in).

  Args:
    gain: multiplies the standard deviation; may be traced.
    in_axis, out_axis, batch_axis: the fan axes, as in :func:`variance_scaling`.

  References:
    LeCun, Bottou, Orr & Mueller (1998), "Efficient BackProp", Sec. 4.6 (std fan_in^(-1/2)).
  """
  return _gain_scaled("lecun_normal", gain, "fan_in", "normal", _LECUN,
                      {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis})


def lecun_uniform(gain: float = 1.0, *, in_axis: Axes = -2, out_axis: Axes = -1,
                  batch_axis: Axes = ()) -> Initializer:
  """LeCun uniform: U(+-gain sqrt(3 / fan_in)), variance gain^2 / fan_in.

  Args:
    gain: multiplies the bound; may be traced.
    in_axis, out_axis, batch_axis: the fan axes, as in :func:`variance_scaling`.

  References:
    LeCun, Bottou, Orr & Mueller (1998), "Efficient BackProp", Sec. 4.6.
  """
  return _gain_scaled("lecun_uniform", gain, "fan_in", "uniform", _LECUN,
                      {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis})


def lecun_truncated_normal(gain: float = 1.0, *, in_axis: Axes = -2, out_axis: Axes = -1,
                           batch_axis: Axes = ()) -> Initializer:
  """LeCun truncated normal: cut at +-2 sigma, variance gain^2 / fan_in after truncation.

  With ``gain`` 1 it is ``jax.nn.initializers.lecun_normal``.

  Args:
    gain: multiplies the standard deviation; may be traced.
    in_axis, out_axis, batch_axis: the fan axes, as in :func:`variance_scaling`.

  References:
    LeCun, Bottou, Orr & Mueller (1998), "Efficient BackProp", Sec. 4.6.
  """
  return _gain_scaled("lecun_truncated_normal", gain, "fan_in", "truncated_normal", _LECUN,
                      {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis})


def he_normal(gain: float = 1.0, negative_slope: float = 0.0, mode: str = "fan_in", *,
              in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = ()) -> Initializer:
  """He normal: N(0, gain^2 * 2 / ((1 + a^2) fan)), a = ``negative_slope``, fan = ``mode``.

  Args:
    gain: multiplies the standard deviation; may be traced.
    negative_slope: the slope a of a leaky ReLU / PReLU for x < 0 (0 for ReLU); may be traced.
    mode: ``fan_in`` (preserves the forward signal) or ``fan_out`` (the backward gradients).
    in_axis, out_axis, batch_axis: the fan axes, as in :func:`variance_scaling`.

  References:
    He, Zhang, Ren & Sun (2015), "Delving Deep into Rectifiers", Sec. 2.2: eq. 10 (fan_in),
    eq. 14 (fan_out), eq. 15 (slope a).
  """
  return _he("normal", gain, negative_slope, mode,
             {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis})


def he_uniform(gain: float = 1.0, negative_slope: float = 0.0, mode: str = "fan_in", *,
               in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = ()) -> Initializer:
  """He uniform: U(+-sqrt(3 v)), v = gain^2 * 2 / ((1 + a^2) fan), a = ``negative_slope``.

  Args:
    gain, negative_slope, mode: as in :func:`he_normal`.
    in_axis, out_axis, batch_axis: the fan axes, as in :func:`variance_scaling`.

  References:
    He, Zhang, Ren & Sun (2015), "Delving Deep into Rectifiers", Sec. 2.2, eqs. 10, 14, 15.
  """
  return _he("uniform", gain, negative_slope, mode,
             {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis})


def he_truncated_normal(gain: float = 1.0, negative_slope: float = 0.0, mode: str = "fan_in", *,
                        in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = ()
                        ) -> Initializer:
  """He truncated normal: cut at +-2 sigma, variance gain^2 * 2 / ((1 + a^2) fan) after truncation.

  With the defaults it is ``jax.nn.initializers.he_normal``.

  Args:
    gain, negative_slope, mode: as in :func:`he_normal`.
    in_axis, out_axis, batch_axis: the fan axes, as in :func:`variance_scaling`.

  References:
    He, Zhang, Ren & Sun (2015), "Delving Deep into Rectifiers", Sec. 2.2, eqs. 10, 14, 15.
  """
  return _he("truncated_normal", gain, negative_slope, mode,
             {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis})


def simple_xavier(gain: float = 1.0, *, in_axis: Axes = -2, out_axis: Axes = -1,
                  batch_axis: Axes = ()) -> Initializer:
  """Simple Xavier: U(+-gain / sqrt(fan_in)), variance gain^2 / (3 fan_in).

  With ``gain`` 1 it is torch's default for ``nn.Linear`` and ``nn.Conv*`` (kaiming_uniform with
  a = sqrt 5).

  Args:
    gain: multiplies the bound; may be traced.
    in_axis, out_axis, batch_axis: the fan axes, as in :func:`variance_scaling`.

  References:
    Glorot & Bengio (2010), eq. 1, the "commonly used heuristic" they compare against.
  """
  gain = names.check_number("gain", "simple_xavier", gain)
  return _named("simple_xavier", {"gain": 1.0}, {"gain": gain}, "U(+-gain / sqrt(fan_in))",
                gain * gain / 3.0, "fan_in", "uniform",
                {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis})
