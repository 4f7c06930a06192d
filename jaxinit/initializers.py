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
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import names

__all__ = [
    "Initializer", "Target", "fans", "get", "known", "ALIASES", "FACTORIES",
    "zeros", "ones", "constant", "normal", "uniform", "truncated_normal", "variance_scaling",
    "glorot_normal", "glorot_uniform", "glorot_truncated_normal", "simple_xavier",
    "lecun_normal", "lecun_uniform", "lecun_truncated_normal",
    "he_normal", "he_uniform", "he_truncated_normal",
    "orthogonal", "delta_orthogonal", "identity",
]

Shape = tuple[int, ...]
DTypeLike = Any
_Draw = Callable[[jax.Array, Shape, np.dtype], jax.Array]

MIN_BOUND = 0.01
MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")


@dataclasses.dataclass(frozen=True)
class Target:
  """The distribution of one entry of an initializer's output, for one shape.

  Attributes:
    family: ``normal``, ``truncated_normal``, ``uniform``, ``constant``, or, for the structured
      schemes, ``orthogonal``, ``delta_orthogonal``, ``identity`` (entries are not independent).
    mean: the entries' mean (for orthogonal and delta-orthogonal, its expectation, 0).
    variance: the entries' variance. For orthogonal and delta-orthogonal it is the mean square over
      all entries, exact for every draw; identity is deterministic and both values are exact.
    bound: half-width of the support around ``mean`` (uniform, truncated normal), else None.
    sigma: for the truncated normal, the standard deviation before truncation, else None.
  """

  family: str
  mean: float
  variance: float
  bound: float | None = None
  sigma: float | None = None

  def pdf(self, x: np.ndarray) -> np.ndarray | None:
    """Density at ``x``; the normal approximation for orthogonal; None where there is no density
    (constant, identity, delta-orthogonal, or zero variance)."""
    if not self.variance > 0:
      return None
    x = np.asarray(x, dtype=np.float64) - self.mean
    std = math.sqrt(self.variance)
    if self.family in ("normal", "orthogonal"):
      return np.exp(-0.5 * (x / std) ** 2) / (std * math.sqrt(2 * math.pi))
    if self.family == "uniform":
      return np.where(np.abs(x) <= self.bound, 0.5 / self.bound, 0.0)
    if self.family == "truncated_normal":
      mass = math.erf(self.bound / self.sigma / math.sqrt(2))
      dens = np.exp(-0.5 * (x / self.sigma) ** 2) / (self.sigma * math.sqrt(2 * math.pi) * mass)
      return np.where(np.abs(x) <= self.bound, dens, 0.0)
    return None


@dataclasses.dataclass(frozen=True, eq=False)
class Initializer:
  """An initialization scheme: a pure function of ``(key, shape, dtype)`` with a canonical name.

  Attributes:
    name: canonical string; ``get(name)`` rebuilds the same scheme.
    formula: the distribution in words, e.g. ``N(0, 2 / fan_in)``.
  """

  name: str
  formula: str
  _draw: _Draw = dataclasses.field(repr=False)
  _target: Callable[[Shape], Target] = dataclasses.field(repr=False)
  _validate: Callable[[Shape], None] = dataclasses.field(default=lambda shape: None, repr=False)

  def __call__(self, key: jax.Array, shape: Sequence[int] | int,
               dtype: DTypeLike = jnp.float32) -> jax.Array:
    """Draws one array.

    Args:
      key: a PRNG key (``jax.random.key(seed)``); may be batched under ``jax.vmap``.
      shape: the array shape, kernels in the Flax layout ``(..., in, out)``.
      dtype: a floating dtype (default float32).

    Returns:
      An array of ``shape`` and ``dtype``.

    Raises:
      TypeError: a non-floating dtype, or a shape that is not a sequence of ints.
      ValueError: a negative dimension, or a number of dimensions the scheme does not accept.
    """
    shape = self._shape(shape)
    dtype = _check_dtype(dtype, self.name)
    if math.prod(shape) == 0:
      return jnp.zeros(shape, dtype)
    sample_dtype = np.dtype(np.float32) if dtype.itemsize < 4 else dtype
    return self._draw(key, shape, sample_dtype).astype(dtype)

  def target(self, shape: Sequence[int] | int) -> Target:
    """The distribution one entry follows for ``shape`` (parameters must be concrete).

    Raises:
      ValueError: for a shape with no entries, or one the scheme does not accept.
    """
    shape = self._shape(shape)
    if math.prod(shape) == 0:
      raise ValueError(f"{self.name}: shape {shape} has no entries, so no entry distribution")
    return self._target(shape)

  def _shape(self, shape: Sequence[int] | int) -> Shape:
    shape = _check_shape(shape, self.name)
    self._validate(shape)
    return shape

  def __repr__(self) -> str:
    return f"Initializer({self.name!r})"


# ----------------------------------------------------------------------------- checks and fans


def _check_shape(shape: Sequence[int] | int, name: str) -> Shape:
  if isinstance(shape, (int, np.integer)):
    shape = (shape,)
  try:
    shape = tuple(operator.index(d) for d in shape)
  except TypeError:
    raise TypeError(
        f"{name}: shape {shape!r} is not a sequence of ints; accepted: e.g. (784, 128) or "
        "(3, 3, 16, 32)") from None
  if any(d < 0 for d in shape):
    raise ValueError(f"{name}: shape {shape} has a negative dimension; accepted: sizes >= 0")
  return shape


def _check_dtype(dtype: DTypeLike, name: str) -> np.dtype:
  given = dtype
  try:
    dtype = np.dtype(jnp.float32 if dtype is None else dtype)
  except TypeError:
    dtype = None
  if dtype is None or not jnp.issubdtype(dtype, jnp.floating) or dtype.itemsize > 8:
    shown = dtype if dtype is not None else repr(given)
    raise TypeError(f"{name}: dtype {shown} is not supported; accepted: floating dtypes "
                    "(float32, float64, float16, bfloat16)")
  return dtype


def fans(shape: Sequence[int], in_axis: int | Sequence[int] = -2,
         out_axis: int | Sequence[int] = -1,
         batch_axis: int | Sequence[int] = ()) -> tuple[int, int]:
  """Returns ``(fan_in, fan_out)`` of a kernel in the Flax layout.

  Args:
    shape: ``(..., in, out)``; the dims not named by the axes form the receptive field (conv
      spatial dims), which multiplies both fans. A 1-D shape ``(n,)`` gives ``(n, n)``, a 0-D shape
      ``(1, 1)`` (the Keras policy).
    in_axis, out_axis: axis or axes of the input and output dimensions.
    batch_axis: axes to ignore (e.g. a stacked-layers axis).

  Returns:
    ``(fan_in, fan_out)`` as ints.

  >>> fans((3, 3, 16, 32))
  (144, 288)
  """
  shape = tuple(shape)
  if len(shape) == 0:
    return 1, 1
  if len(shape) == 1:
    return shape[0], shape[0]
  def axes(a: int | Sequence[int]) -> tuple[int, ...]:
    a = (a,) if isinstance(a, int) else tuple(a)
    if any(not -len(shape) <= i < len(shape) for i in a):
      raise ValueError(f"axes {a} out of range for shape {shape}")
    return tuple(i % len(shape) for i in a)
  ins, outs, batch = axes(in_axis), axes(out_axis), axes(batch_axis)
  if len(set(ins + outs + batch)) != len(ins + outs + batch):
    raise ValueError(f"in_axis {in_axis}, out_axis {out_axis} and batch_axis {batch_axis} overlap")
  receptive = math.prod(d for i, d in enumerate(shape) if i not in ins + outs + batch)
  return (math.prod(shape[i] for i in ins) * receptive, math.prod(shape[i] for i in outs) * receptive)


# ----------------------------------------------------------------------------- parameters


def _is_concrete(x: Any) -> bool:
  return not isinstance(x, jax.core.Tracer)


_check_param = names.check_number


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


def _choice(name: str, scheme: str, value: str, accepted: Sequence[str]) -> str:
  if value not in accepted:
    raise ValueError(f"{scheme}: {name}={value!r} is not known; accepted: {', '.join(accepted)}")
  return value


def _name(kind: str, defaults: dict[str, Any], **params: Any) -> str:
  """Canonical name: ``kind(key=value, ...)`` listing the parameters that differ from defaults."""
  shown = {k: v for k, v in params.items()
           if not _is_concrete(v) or k not in defaults or v != defaults[k]}
  return names.format_call(kind, kwargs=shown)


def _truncated_std(bound: float) -> float:
  """Standard deviation of N(0, 1) truncated to [-bound, bound] (0.8796 at bound 2)."""
  phi = math.exp(-0.5 * bound * bound) / math.sqrt(2 * math.pi)
  return math.sqrt(1 - 2 * bound * phi / math.erf(bound / math.sqrt(2)))


# ----------------------------------------------------------------------------- simple schemes


def _scheme(name: str, formula: str, draw: _Draw, target: Callable[[Shape], Target],
            validate: Callable[[Shape], None] | None = None) -> Initializer:
  # The draw is compiled once per (shape, dtype) with the parameters as constants, so a call made
  # eagerly and the same call inlined in a user's jit or jit(vmap) population are one XLA program
  # and round alike. Op-by-op eager arithmetic would not: XLA fuses a sampler's last multiply with
  # the scaling into one FMA rounding (1 ulp off in ~20% of entries on CPU otherwise).
  return Initializer(name, formula, jax.jit(draw, static_argnums=(1, 2)), target,
                     validate or (lambda shape: None))


def _fixed(name: str, value: Any) -> Initializer:
  return _scheme(name, repr(value) if _is_concrete(value) else "value",
                 lambda key, shape, dtype: jnp.full(shape, value, dtype),
                 lambda shape: Target("constant", float(value), 0.0))


def zeros() -> Initializer:
  """All zeros (the symmetric start that never breaks symmetry)."""
  return _fixed("zeros", 0.0)


def ones() -> Initializer:
  """All ones."""
  return _fixed("ones", 1.0)


def constant(value: float = 0.0) -> Initializer:
  """Every entry equal to ``value``; the name is positional, ``constant(0.005)``."""
  value = _check_param("value", "constant", value)
  init = _fixed(names.format_call("constant", (value,)), value)
  return dataclasses.replace(init, formula="value")


def normal(stddev: float = 1.0) -> Initializer:
  """N(0, stddev^2), independent entries. ``stddev`` may be traced."""
  stddev = _check_param("stddev", "normal", stddev, minimum=0.0)
  return _scheme(
      names.format_call("normal", kwargs={"stddev": stddev}), "N(0, stddev^2)",
      lambda key, shape, dtype: jax.random.normal(key, shape, dtype) * jnp.array(stddev, dtype),
      lambda shape: Target("normal", 0.0, float(stddev) * float(stddev)))


def uniform(low: float = -1.0, high: float = 1.0) -> Initializer:
  """U(low, high), symmetric U(-1, 1) by default (jax's ``uniform(scale)`` is U[0, scale))."""
  low = _check_param("low", "uniform", low)
  high = _check_param("high", "uniform", high)
  if _is_concrete(low) and _is_concrete(high) and not (low < high and math.isfinite(high - low)):
    raise ValueError(f"uniform: low={low}, high={high} is not accepted; accepted: low < high with "
                     "a finite width high - low")
  return _scheme(
      names.format_call("uniform", kwargs={"low": low, "high": high}), "U(low, high)",
      lambda key, shape, dtype: jax.random.uniform(key, shape, dtype, low, high),
      lambda shape: Target("uniform", (float(low) + float(high)) / 2,
                           (float(high) - float(low)) ** 2 / 12, (float(high) - float(low)) / 2))


def _draw_truncated(key: jax.Array, shape: Shape, dtype: np.dtype, std: jax.Array,
                    bound: float = 2.0) -> jax.Array:
  """N(0, sigma^2) truncated to +-bound sigma, with sigma chosen so the result has stddev ``std``."""
  sample = jax.random.truncated_normal(key, -bound, bound, shape, dtype)
  return sample * (std / jnp.array(_truncated_std(bound), dtype))


def _truncated_target(variance: float, bound: float = 2.0) -> Target:
  sigma = math.sqrt(variance) / _truncated_std(bound)
  return Target("truncated_normal", 0.0, variance, bound * sigma, sigma)


def truncated_normal(stddev: float = 1.0, bound: float = 2.0) -> Initializer:
  """N(0, sigma^2) cut at +-bound sigma, sigma set so the standard deviation *after* truncation is
  ``stddev`` (sigma = stddev / 0.8796 at bound 2; jax's ``truncated_normal(stddev)`` uses sigma =
  stddev instead). ``stddev`` may be traced; ``bound`` is a Python float."""
  stddev = _check_param("stddev", "truncated_normal", stddev, minimum=0.0)
  if not _is_concrete(bound):
    raise TypeError("truncated_normal: bound must be a Python float, not a traced value; "
                    "accepted: a number >= 0.01 (only stddev may be traced)")
  # Below ~0.01 the closed-form std of the truncated normal loses its digits to cancellation.
  bound = float(_check_param("bound", "truncated_normal", bound, minimum=MIN_BOUND))
  return _scheme(
      _name("truncated_normal", {"bound": 2.0}, stddev=stddev, bound=bound),
      "N(0, sigma^2) truncated to +-bound*sigma, stddev after truncation = stddev",
      lambda key, shape, dtype: _draw_truncated(key, shape, dtype, jnp.array(stddev, dtype), bound),
      lambda shape: _truncated_target(float(stddev) * float(stddev), bound))


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
  scale = _check_param("scale", scheme, scale, minimum=0.0)
  _choice("mode", scheme, mode, MODES)
  _choice("distribution", scheme, distribution, DISTRIBUTIONS)
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
      return _draw_truncated(key, shape, dtype, jnp.sqrt(var))
    if distribution == "normal":
      return jax.random.normal(key, shape, dtype) * jnp.sqrt(var)
    return jax.random.uniform(key, shape, dtype, -1) * jnp.sqrt(3 * var)

  def target(shape: Shape) -> Target:
    var = float(variance(shape))
    if distribution == "truncated_normal":
      return _truncated_target(var)
    if distribution == "normal":
      return Target("normal", 0.0, var)
    return Target("uniform", 0.0, var, math.sqrt(3 * var))

  fan = {"fan_in": "fan_in", "fan_out": "fan_out", "fan_avg": "(fan_in + fan_out) / 2",
         "fan_geo_avg": "sqrt(fan_in * fan_out)"}[mode]
  formula = {"normal": f"N(0, scale / {fan})",
             "truncated_normal": f"truncated N(+-2 sigma) with variance scale / {fan}",
             "uniform": f"U(+-sqrt(3 scale / {fan}))"}[distribution]
  return _scheme(name, formula, draw, target)


def _named_family(kind: str, defaults: dict[str, Any], params: dict[str, Any], formula: str,
                  scale: Any, mode: str, distribution: str) -> Initializer:
  """A named member of the variance-scaling family (he_normal, ...) with its own canonical name."""
  init = variance_scaling(scale=scale, mode=mode, distribution=distribution)
  return dataclasses.replace(init, name=_name(kind, defaults, **params), formula=formula)


_GAIN = {"gain": 1.0}
_FAMILY_FORMS = {
    "normal": "N(0, {v})",
    "uniform": "U(+-sqrt(3 {v}))",
    "truncated_normal": "truncated N(+-2 sigma) with variance {v}",
}


def _gain_family(prefix: str, mode: str, variance: str, paper: str,
                 distribution: str) -> Callable[..., Initializer]:
  """The factory ``{prefix}_{distribution}(gain=1.0)``: variance ``gain^2 / fan`` for ``mode``."""
  kind = f"{prefix}_{distribution}"

  def factory(gain: float = 1.0) -> Initializer:
    gain = _check_param("gain", kind, gain)
    formula = _FAMILY_FORMS[distribution].format(v=variance)
    return _named_family(kind, _GAIN, {"gain": gain}, formula, gain * gain, mode, distribution)

  factory.__name__ = kind
  factory.__doc__ = f"{paper} init ({distribution}): variance {variance}."
  return factory


def _glorot(distribution: str) -> Callable[..., Initializer]:
  return _gain_family("glorot", "fan_avg", "gain^2 * 2 / (fan_in + fan_out)",
                      "Glorot & Bengio (2010) normalized", distribution)


def _lecun(distribution: str) -> Callable[..., Initializer]:
  return _gain_family("lecun", "fan_in", "gain^2 / fan_in", "LeCun et al. (1998)", distribution)


def _he(distribution: str) -> Callable[..., Initializer]:
  kind = f"he_{distribution}"
  defaults = {"gain": 1.0, "negative_slope": 0.0, "mode": "fan_in"}

  def factory(gain: float = 1.0, negative_slope: float = 0.0, mode: str = "fan_in") -> Initializer:
    gain = _check_param("gain", kind, gain)
    negative_slope = _check_param("negative_slope", kind, negative_slope)
    _choice("mode", kind, mode, ("fan_in", "fan_out"))
    formula = _FAMILY_FORMS[distribution].format(v=f"gain^2 * 2 / ((1 + a^2) {mode})")
    scale = gain * gain * 2.0 / (1.0 + negative_slope * negative_slope)
    params = {"gain": gain, "negative_slope": negative_slope, "mode": mode}
    return _named_family(kind, defaults, params, formula, scale, mode, distribution)

  factory.__name__ = kind
  factory.__doc__ = (f"He et al. (2015) init ({distribution}): variance gain^2 * 2 / ((1 + a^2) "
                     "fan), a = negative_slope of a leaky ReLU / PReLU, fan = fan_in or fan_out.")
  return factory


glorot_normal = _glorot("normal")
glorot_uniform = _glorot("uniform")
glorot_truncated_normal = _glorot("truncated_normal")
lecun_normal = _lecun("normal")
lecun_uniform = _lecun("uniform")
lecun_truncated_normal = _lecun("truncated_normal")
he_normal = _he("normal")
he_uniform = _he("uniform")
he_truncated_normal = _he("truncated_normal")


def simple_xavier(gain: float = 1.0) -> Initializer:
  """Glorot & Bengio's "commonly used heuristic" (their eq. 1), U(+-gain / sqrt(fan_in)); with
  gain 1 it is torch's default for ``nn.Linear`` and ``nn.Conv*`` (kaiming_uniform with a=sqrt 5)."""
  gain = _check_param("gain", "simple_xavier", gain)
  return _named_family("simple_xavier", _GAIN, {"gain": gain}, "U(+-gain / sqrt(fan_in))",
                       gain * gain / 3.0, "fan_in", "uniform")


def _at_least_2d(kind: str) -> Callable[[Shape], None]:
  def validate(shape: Shape) -> None:
    if len(shape) < 2:
      raise ValueError(f"{kind}: shape {shape} has {len(shape)} dimensions; accepted: a kernel "
                       "with at least 2, in the Flax layout (..., in, out)")
  return validate


def orthogonal(gain: float = 1.0) -> Initializer:
  """Saxe et al. (2014): the kernel reshaped to (prod(shape[:-1]), out) has orthonormal columns
  (tall or square) or rows (wide), times ``gain``: W^T W = gain^2 I or W W^T = gain^2 I. Bit-identical
  to ``jax.nn.initializers.orthogonal(scale=gain)`` in float32."""
  gain = _check_param("gain", "orthogonal", gain)

  def target(shape: Shape) -> Target:
    rows, cols = math.prod(shape[:-1]), shape[-1]
    return Target("orthogonal", 0.0, float(gain) * float(gain) / max(rows, cols))

  return _scheme(
      _name("orthogonal", _GAIN, gain=gain), "gain * Q, Q^T Q = I (tall) or Q Q^T = I (wide)",
      lambda key, shape, dtype: jax.nn.initializers.orthogonal(scale=gain)(key, shape, dtype),
      target, _at_least_2d("orthogonal"))


def delta_orthogonal(gain: float = 1.0) -> Initializer:
  """Xiao et al. (2018): a conv kernel (spatial..., in, out), 1 to 3 spatial dims and in <= out,
  zero except its centre tap, which is ``gain`` times a matrix with orthonormal rows."""
  gain = _check_param("gain", "delta_orthogonal", gain)

  def validate(shape: Shape) -> None:
    if not 3 <= len(shape) <= 5:
      raise ValueError(f"delta_orthogonal: shape {shape} has {len(shape)} dimensions; accepted: a "
                       "conv kernel (spatial..., in, out) with 1 to 3 spatial dims")
    if shape[-2] > shape[-1]:
      raise ValueError(f"delta_orthogonal: shape {shape} has in={shape[-2]} > out={shape[-1]}; "
                       "accepted: in <= out (an isometry needs at least as many outputs)")

  return _scheme(
      _name("delta_orthogonal", _GAIN, gain=gain), "centre tap gain * Q (Q Q^T = I), zero elsewhere",
      lambda key, shape, dtype: jax.nn.initializers.delta_orthogonal(scale=gain)(key, shape, dtype),
      lambda shape: Target("delta_orthogonal", 0.0,
                           float(gain) * float(gain) * shape[-2] / math.prod(shape)),
      validate)


def identity(gain: float = 1.0) -> Initializer:
  """``gain`` times the identity (rectangular ``eye(in, out)``); for a conv kernel the identity sits
  at the tap ``(k - 1) // 2`` of each spatial dim, so a Flax conv with ``SAME`` padding starts as
  the identity map (torch's ``dirac_`` uses ``k // 2``, which differs for even kernel sizes)."""
  gain = _check_param("gain", "identity", gain)

  def draw(key: jax.Array, shape: Shape, dtype: np.dtype) -> jax.Array:
    eye = jnp.array(gain, dtype) * jnp.eye(shape[-2], shape[-1], dtype=dtype)
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    return jnp.zeros(shape, dtype).at[centre].set(eye)

  def target(shape: Shape) -> Target:
    ones = min(shape[-2:]) / math.prod(shape)  # fraction of entries equal to gain
    return Target("identity", float(gain) * ones, float(gain) * float(gain) * ones * (1 - ones))

  return _scheme(_name("identity", _GAIN, gain=gain), "gain * I (centre tap for conv kernels)", draw,
                 target, _at_least_2d("identity"))


# ----------------------------------------------------------------------------- the name registry

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
