"""Fan-scaled schemes: :func:`variance_scaling` and its named members (Glorot, LeCun, He, simple Xavier).

Each named scheme is ``variance_scaling`` with a fixed mode and distribution under its own canonical
name; ``*_normal`` draw from a plain normal as in the papers and torch, ``*_truncated_normal`` from the
truncated normal that ``jax.nn.initializers``' and Keras' ``*_normal`` use.
"""

from __future__ import annotations

import dataclasses
import math
import operator
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
    "he_normal", "he_uniform", "he_truncated_normal", "MODES", "DISTRIBUTIONS",
]

MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")


def _axes_param(name: str, value: Any, allow_empty: bool = False) -> int | tuple[int, ...]:
  """An axis parameter in canonical form: an int, or a tuple of two or more ints (or ``()``)."""
  try:
    axes = (operator.index(value),) if not isinstance(value, (tuple, list)) else tuple(
        operator.index(a) for a in value)
  except TypeError:
    axes = None
  if axes is None or any(isinstance(a, bool) for a in axes) or (not axes and not allow_empty):
    raise ValueError(f"variance_scaling: {name}={value!r} is not accepted; accepted: an int axis "
                     f"or a tuple of int axes{' (or () for none)' if allow_empty else ''}")
  return axes[0] if len(axes) == 1 else axes


def variance_scaling(scale: float = 1.0, mode: str = "fan_in",
                     distribution: str = "truncated_normal", in_axis: int | Sequence[int] = -2,
                     out_axis: int | Sequence[int] = -1,
                     batch_axis: int | Sequence[int] = ()) -> Initializer:
  r"""Entries with mean 0 and variance ``scale / n``, ``n`` the fan chosen by ``mode``.

  Args:
    scale: variance multiplier (C_W in signal-propagation notation), >= 0; may be traced.
    mode: ``fan_in``, ``fan_out``, ``fan_avg`` ((in + out) / 2) or ``fan_geo_avg`` (sqrt(in out)).
    distribution: ``normal``; ``truncated_normal`` (cut at 2 sigma, rescaled so the variance after
      truncation is ``scale / n``); ``uniform`` (U(+-sqrt(3 scale / n))).
    in_axis, out_axis, batch_axis: see :func:`fans`.

  Returns:
    The initializer; for ``float32`` its output is bit-identical to
    ``jax.nn.initializers.variance_scaling`` with the same arguments and key.
  """
  scheme = "variance_scaling"
  scale = names.check_number("scale", scheme, scale, minimum=0.0)
  check_choice("mode", scheme, mode, MODES)
  check_choice("distribution", scheme, distribution, DISTRIBUTIONS)
  in_axis, out_axis = _axes_param("in_axis", in_axis), _axes_param("out_axis", out_axis)
  batch_axis = _axes_param("batch_axis", batch_axis, allow_empty=True)
  axes = {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis}
  axes_defaults = {"in_axis": -2, "out_axis": -1, "batch_axis": ()}
  shown_axes = {k: v for k, v in axes.items() if v != axes_defaults[k]}
  name = names.format_call(
      scheme, kwargs={"scale": scale, "mode": mode, "distribution": distribution, **shown_axes})

  def variance(shape: Shape) -> Any:
    fan_in, fan_out = fans(shape, in_axis, out_axis, batch_axis)
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

  fan = {"fan_in": "fan_in", "fan_out": "fan_out", "fan_avg": "(fan_in + fan_out) / 2",
         "fan_geo_avg": "sqrt(fan_in * fan_out)"}[mode]
  formula = {"normal": f"N(0, scale / {fan})",
             "truncated_normal": f"truncated N(+-2 sigma) with variance scale / {fan}",
             "uniform": f"U(+-sqrt(3 scale / {fan}))"}[distribution]
  return from_draw(name, formula, draw, target,
                   affine=affine if is_concrete(scale) else None)


# ----------------------------------------------------------------------------- named members

_FORMS = {
    "normal": "N(0, {v})",
    "uniform": "U(+-sqrt(3 {v}))",
    "truncated_normal": "truncated N(+-2 sigma) with variance {v}",
}
_GLOROT = "gain^2 * 2 / (fan_in + fan_out)"
_LECUN = "gain^2 / fan_in"


def _named(kind: str, defaults: dict[str, Any], params: dict[str, Any], formula: str,
           scale: Any, mode: str, distribution: str) -> Initializer:
  """``variance_scaling(scale, mode, distribution)`` under the canonical name of ``kind(**params)``."""
  init = variance_scaling(scale=scale, mode=mode, distribution=distribution)
  return dataclasses.replace(init, name=canonical_name(kind, defaults, **params), formula=formula)


def _gain_scaled(kind: str, gain: Any, mode: str, distribution: str, variance: str) -> Initializer:
  """``kind(gain)``: variance ``gain^2 / fan`` for ``mode``, ``variance`` that formula in words."""
  gain = names.check_number("gain", kind, gain)
  return _named(kind, {"gain": 1.0}, {"gain": gain}, _FORMS[distribution].format(v=variance),
                gain * gain, mode, distribution)


def _he(distribution: str, gain: Any, negative_slope: Any, mode: str) -> Initializer:
  """``he_{distribution}``: variance ``gain^2 * 2 / ((1 + negative_slope^2) fan)``."""
  kind = f"he_{distribution}"
  gain = names.check_number("gain", kind, gain)
  negative_slope = names.check_number("negative_slope", kind, negative_slope)
  check_choice("mode", kind, mode, ("fan_in", "fan_out"))
  formula = _FORMS[distribution].format(v=f"gain^2 * 2 / ((1 + a^2) {mode})")
  scale = gain * gain * 2.0 / (1.0 + negative_slope * negative_slope)
  defaults = {"gain": 1.0, "negative_slope": 0.0, "mode": "fan_in"}
  params = {"gain": gain, "negative_slope": negative_slope, "mode": mode}
  return _named(kind, defaults, params, formula, scale, mode, distribution)


def glorot_normal(gain: float = 1.0) -> Initializer:
  """Glorot normal: N(0, gain^2 * 2 / (fan_in + fan_out)).

  Args:
    gain: multiplies the standard deviation; may be traced.

  References:
    Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
    networks", eq. 16: its variance, drawn here from a plain normal (as torch's xavier_normal_).
  """
  return _gain_scaled("glorot_normal", gain, "fan_avg", "normal", _GLOROT)


def glorot_uniform(gain: float = 1.0) -> Initializer:
  """Glorot uniform: U(+-gain sqrt(6 / (fan_in + fan_out))), variance gain^2 * 2 / (fan_in + fan_out).

  Args:
    gain: multiplies the bound; may be traced.

  References:
    Glorot & Bengio (2010), eq. 16, their "normalized initialization".
  """
  return _gain_scaled("glorot_uniform", gain, "fan_avg", "uniform", _GLOROT)


def glorot_truncated_normal(gain: float = 1.0) -> Initializer:
  """Glorot truncated normal: cut at +-2 sigma, variance gain^2 * 2 / (fan_in + fan_out) after it.

  With ``gain`` 1 it is ``jax.nn.initializers.glorot_normal``.

  Args:
    gain: multiplies the standard deviation; may be traced.

  References:
    Glorot & Bengio (2010), eq. 16 (its variance).
  """
  return _gain_scaled("glorot_truncated_normal", gain, "fan_avg", "truncated_normal", _GLOROT)


def lecun_normal(gain: float = 1.0) -> Initializer:
  """LeCun normal: N(0, gain^2 / fan_in).

  Args:
    gain: multiplies the standard deviation; may be traced.

  References:
    LeCun, Bottou, Orr & Mueller (1998), "Efficient BackProp", Sec. 4.6 (std fan_in^(-1/2)).
  """
  return _gain_scaled("lecun_normal", gain, "fan_in", "normal", _LECUN)


def lecun_uniform(gain: float = 1.0) -> Initializer:
  """LeCun uniform: U(+-gain sqrt(3 / fan_in)), variance gain^2 / fan_in.

  Args:
    gain: multiplies the bound; may be traced.

  References:
    LeCun, Bottou, Orr & Mueller (1998), "Efficient BackProp", Sec. 4.6.
  """
  return _gain_scaled("lecun_uniform", gain, "fan_in", "uniform", _LECUN)


def lecun_truncated_normal(gain: float = 1.0) -> Initializer:
  """LeCun truncated normal: cut at +-2 sigma, variance gain^2 / fan_in after truncation.

  With ``gain`` 1 it is ``jax.nn.initializers.lecun_normal``.

  Args:
    gain: multiplies the standard deviation; may be traced.

  References:
    LeCun, Bottou, Orr & Mueller (1998), "Efficient BackProp", Sec. 4.6.
  """
  return _gain_scaled("lecun_truncated_normal", gain, "fan_in", "truncated_normal", _LECUN)


def he_normal(gain: float = 1.0, negative_slope: float = 0.0, mode: str = "fan_in") -> Initializer:
  """He normal: N(0, gain^2 * 2 / ((1 + a^2) fan)), a = ``negative_slope``, fan = ``mode``.

  Args:
    gain: multiplies the standard deviation; may be traced.
    negative_slope: the slope a of a leaky ReLU / PReLU for x < 0 (0 for ReLU); may be traced.
    mode: ``fan_in`` (preserves the forward signal) or ``fan_out`` (the backward gradients).

  References:
    He, Zhang, Ren & Sun (2015), "Delving Deep into Rectifiers", Sec. 2.2: eq. 10 (fan_in),
    eq. 14 (fan_out), eq. 15 (slope a).
  """
  return _he("normal", gain, negative_slope, mode)


def he_uniform(gain: float = 1.0, negative_slope: float = 0.0, mode: str = "fan_in") -> Initializer:
  """He uniform: U(+-sqrt(3 v)), v = gain^2 * 2 / ((1 + a^2) fan), a = ``negative_slope``.

  Args:
    gain, negative_slope, mode: as in :func:`he_normal`.

  References:
    He, Zhang, Ren & Sun (2015), "Delving Deep into Rectifiers", Sec. 2.2, eqs. 10, 14, 15.
  """
  return _he("uniform", gain, negative_slope, mode)


def he_truncated_normal(gain: float = 1.0, negative_slope: float = 0.0,
                        mode: str = "fan_in") -> Initializer:
  """He truncated normal: cut at +-2 sigma, variance gain^2 * 2 / ((1 + a^2) fan) after truncation.

  With the defaults it is ``jax.nn.initializers.he_normal``.

  Args:
    gain, negative_slope, mode: as in :func:`he_normal`.

  References:
    He, Zhang, Ren & Sun (2015), "Delving Deep into Rectifiers", Sec. 2.2, eqs. 10, 14, 15.
  """
  return _he("truncated_normal", gain, negative_slope, mode)


def simple_xavier(gain: float = 1.0) -> Initializer:
  """Simple Xavier: U(+-gain / sqrt(fan_in)), variance gain^2 / (3 fan_in).

  With ``gain`` 1 it is torch's default for ``nn.Linear`` and ``nn.Conv*`` (kaiming_uniform with
  a = sqrt 5).

  Args:
    gain: multiplies the bound; may be traced.

  References:
    Glorot & Bengio (2010), eq. 1, the "commonly used heuristic" they compare against.
  """
  gain = names.check_number("gain", "simple_xavier", gain)
  return _named("simple_xavier", {"gain": 1.0}, {"gain": gain}, "U(+-gain / sqrt(fan_in))",
                gain * gain / 3.0, "fan_in", "uniform")
