"""The :class:`Initializer` type, its entry distribution :class:`Target`, and kernel fans.

Also the building blocks the scheme factories share (:mod:`jaxinit.initializers.distributions`,
:mod:`jaxinit.initializers.variance_scaling`, :mod:`jaxinit.initializers.structured`): :func:`from_draw`
compiles a draw into
an :class:`Initializer`, :func:`canonical_name` prints its name, :func:`check_choice`,
:func:`check_axes` and :func:`is_concrete` check its parameters. Users import all of it from
:mod:`jaxinit.initializers`.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import names

__all__ = [
    "Initializer", "Target", "Affine", "BASES", "fans", "from_draw", "canonical_name", "check_choice",
    "check_axes", "is_concrete", "flat", "Shape", "DTypeLike", "Draw",
]

Shape = tuple[int, ...]
DTypeLike = Any
Draw = Callable[[jax.Array, Shape, np.dtype], jax.Array]


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


BASES = ("constant", "normal", "uniform", "truncated_normal")
"""The standard draws an :class:`Affine` initializer scales."""


@dataclasses.dataclass(frozen=True)
class Affine:
  """An initializer's float32 draw for one shape, as ``offset + scale * base``.

  ``base`` is the standard draw from the key, with the same bits as the scheme's own sampler:
  ``constant``: zeros (no draw); ``normal``: ``jax.random.normal``; ``uniform``:
  ``jax.random.uniform(key, shape, float32, low, high)``; ``truncated_normal``:
  ``jax.random.truncated_normal(key, -bound, bound, shape, float32)``. ``scale`` and ``offset``
  are float32 values computed as the scheme computes them, so ``offset + scale * base`` with them as
  data is the scheme's draw bit for bit. Schemes that are one distribution with shape-dependent
  parameters (the fixed distributions, the variance-scaling family) have one; the structured ones
  (orthogonal, ...) have none. It lets a population draw several such schemes with one compiled
  program whose scales are data (:mod:`jaxinit.schemes.programs`).

  Attributes:
    base: one of :data:`BASES`.
    scale, offset: float32 values (as Python floats).
    low, high: the uniform base's interval (float32 values).
    bound: the truncated-normal base's cut, in standard deviations (part of the compiled program).
  """

  base: str
  scale: float = 1.0
  offset: float = 0.0
  low: float = -1.0
  high: float = 1.0
  bound: float = 2.0

  def __post_init__(self) -> None:
    check_choice("base", "Affine", self.base, BASES)
    for field in ("scale", "offset", "low", "high", "bound"):
      object.__setattr__(self, field, float(np.float32(getattr(self, field))))


@dataclasses.dataclass(frozen=True, eq=False)
class Initializer:
  """An initialization scheme: a pure function of ``(key, shape, dtype)`` with a canonical name.

  Attributes:
    name: canonical string; ``get(name)`` rebuilds the same scheme.
    formula: the distribution in words, e.g. ``N(0, 2 / fan_in)``.
  """

  name: str
  formula: str
  _draw: Draw = dataclasses.field(repr=False)
  _target: Callable[[Shape], Target] = dataclasses.field(repr=False)
  _validate: Callable[[Shape], None] = dataclasses.field(default=lambda shape: None, repr=False)
  _affine: Callable[[Shape], Affine] | None = dataclasses.field(default=None, repr=False)
  _fans: Callable[[Shape], tuple[int, int]] | None = dataclasses.field(default=None, repr=False)

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

  def affine(self, shape: Sequence[int] | int) -> Affine | None:
    """The float32 draw for ``shape`` as ``offset + scale * base`` (:class:`Affine`), or None for a
    scheme that is not one (structured schemes, or parameters that are traced).

    Raises:
      ValueError: a shape the scheme does not accept.
    """
    return None if self._affine is None else self._affine(self._shape(shape))

  def fans(self, shape: Sequence[int] | int) -> tuple[int, int]:
    """``(fan_in, fan_out)`` for ``shape`` along the scheme's axes (:func:`fans`; the Flax layout
    unless the scheme takes ``in_axis``, ``out_axis``, ``batch_axis``).

    Raises:
      ValueError: a shape the scheme does not accept.
    """
    return (self._fans or fans)(self._shape(shape))

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
  """Returns ``(fan_in, fan_out)`` of a kernel, by default in the Flax layout ``(..., in, out)``.

  The axes mean what they mean in ``jax.nn.initializers``: an equinox ``Linear`` weight, stored
  ``(out, in)``, has ``in_axis=-1, out_axis=-2``; a stack of layers ``(L, in, out)`` has
  ``batch_axis=0``.

  Args:
    shape: the kernel; the dims not named by the axes form the receptive field (conv spatial
      dims), which multiplies both fans. A 1-D shape ``(n,)`` gives ``(n, n)``, a 0-D shape
      ``(1, 1)`` (the Keras policy), whatever the axes.
    in_axis, out_axis: axis or axes of the input and output dimensions.
    batch_axis: axes to ignore (e.g. a stacked-layers axis).

  Returns:
    ``(fan_in, fan_out)`` as ints.

  Raises:
    ValueError: an axis out of range for ``shape``, or one named twice.

  >>> fans((3, 3, 16, 32))
  (144, 288)
  >>> fans((128, 784), in_axis=-1, out_axis=-2), fans((8, 256, 512), batch_axis=0)
  ((784, 128), (256, 512))
  """
  shape = tuple(shape)
  if len(shape) == 0:
    return 1, 1
  if len(shape) == 1:
    return shape[0], shape[0]
  def axes(a: int | Sequence[int]) -> tuple[int, ...]:
    a = (a,) if isinstance(a, int) else tuple(a)
    if any(not -len(shape) <= i < len(shape) for i in a):
      raise ValueError(f"axes {a} are out of range for shape {shape}; accepted: axes from "
                       f"{-len(shape)} to {len(shape) - 1}")
    return tuple(i % len(shape) for i in a)
  ins, outs, batch = axes(in_axis), axes(out_axis), axes(batch_axis)
  if len(set(ins + outs + batch)) != len(ins + outs + batch):
    raise ValueError(f"in_axis={in_axis}, out_axis={out_axis} and batch_axis={batch_axis} overlap "
                     f"on shape {shape}; accepted: each axis in at most one of them")
  receptive = math.prod(d for i, d in enumerate(shape) if i not in ins + outs + batch)
  return (math.prod(shape[i] for i in ins) * receptive, math.prod(shape[i] for i in outs) * receptive)


# ----------------------------------------------------------------------------- building blocks


def flat(sampler: Callable[..., jax.Array], key: jax.Array, shape: Shape, dtype: Any,
         *args: Any) -> jax.Array:
  """``sampler(key, (prod(shape),), dtype, *args)`` reshaped to ``shape``.

  The same bits as ``sampler(key, shape, dtype, *args)`` (jax's samplers draw the flat count of
  bits and reshape), but XLA on the CPU compiles a 1-D draw about ten times faster than a 4-D one
  (measured with jax 0.10.2: 0.4 s against 4.7 s for a (3, 3, 4, 8) normal).
  """
  return sampler(key, (math.prod(shape),), dtype, *args).reshape(shape)


def is_concrete(x: Any) -> bool:
  """Whether ``x`` is a concrete value rather than a tracer (a parameter swept with ``jax.vmap``)."""
  return not isinstance(x, jax.core.Tracer)


def check_choice(name: str, scheme: str, value: str, accepted: Sequence[str]) -> str:
  """Returns ``value`` if it is one of ``accepted``; raises ValueError naming them otherwise."""
  if value not in accepted:
    raise ValueError(f"{scheme}: {name}={value!r} is not known; accepted: {', '.join(accepted)}")
  return value


def check_axes(scheme: str, name: str, value: Any, many: bool = True,
               allow_empty: bool = False) -> int | tuple[int, ...]:
  """An axis parameter in canonical form: an int, or (``many``) a tuple of two or more ints, or
  (``allow_empty``) ``()``; a one-element tuple or list becomes its int. ValueError otherwise."""
  given = tuple(value) if many and isinstance(value, (tuple, list)) else (value,)
  try:
    axes = tuple(operator.index(a) for a in given)
  except TypeError:
    axes = None
  if axes is None or any(isinstance(a, (bool, np.bool_)) for a in given) or (
      not axes and not allow_empty):
    accepted = ("an int axis or a tuple of int axes" if many else "an int axis") + (
        " (or () for none)" if allow_empty else "")
    raise ValueError(f"{scheme}: {name}={value!r} is not accepted; accepted: {accepted}")
  return axes[0] if len(axes) == 1 else axes


def canonical_name(kind: str, defaults: dict[str, Any], **params: Any) -> str:
  """Canonical name: ``kind(key=value, ...)`` listing the parameters that differ from defaults."""
  shown = {k: v for k, v in params.items()
           if not is_concrete(v) or k not in defaults or v != defaults[k]}
  return names.format_call(kind, kwargs=shown)


def from_draw(name: str, formula: str, draw: Draw, target: Callable[[Shape], Target],
              validate: Callable[[Shape], None] | None = None,
              affine: Callable[[Shape], Affine] | None = None,
              kernel_fans: Callable[[Shape], tuple[int, int]] | None = None) -> Initializer:
  """The :class:`Initializer` drawing with ``draw(key, shape, dtype)``, compiled per shape and dtype.

  Args:
    name: the canonical name.
    formula: the distribution in words.
    draw: samples an array of ``shape`` in the floating ``dtype`` (float32 or wider).
    target: the :class:`Target` of one entry for a shape.
    validate: raises ValueError for a shape the scheme does not accept.
    affine: the float32 draw for a shape as an :class:`Affine`, where the scheme is one.
    kernel_fans: ``(fan_in, fan_out)`` for a shape, where the scheme's axes are not the Flax
      layout's (:func:`fans` with its defaults otherwise).
  """
  # The draw is compiled once per (shape, dtype) with the parameters as constants, so a call made
  # eagerly and the same call inlined in a user's jit or jit(vmap) population are one XLA program
  # and round alike. Op-by-op eager arithmetic would not: XLA fuses a sampler's last multiply with
  # the scaling into one FMA rounding (1 ulp off in ~20% of entries on CPU otherwise).
  return Initializer(name, formula, jax.jit(draw, static_argnums=(1, 2)), target,
                     validate or (lambda shape: None), affine, kernel_fans)
