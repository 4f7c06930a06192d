"""Describing initializers: one draw compared with its target distribution (``jaxinit sample``), and
the catalog of every scheme (``jaxinit schemes``).

>>> d = describe("he_normal", (784, 128), seed=0)
>>> d.name, d.shape, d.fan_in, d.target.family
('he_normal', (784, 128), 784, 'normal')
>>> abs(d.stats["variance"] / d.target.variance - 1) < 0.02
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import initializers, names
from jaxinit.engine import placement, population

__all__ = ["Description", "describe", "catalog", "parse_shape", "parse_dtype", "STRUCTURED", "DTYPES"]

STRUCTURED = ("orthogonal", "delta_orthogonal", "identity")
"""Families whose entries are not independent: their target mean square is exact for every draw."""
DTYPES = ("float32", "float64", "float16", "bfloat16")
SHAPE_HELP = "--shape must be comma-separated non-negative ints, e.g. 784,128"
_WORKING_COPIES = 4
"""Arrays of the draw's size alive at once at most: the draw, a float32 copy, the statistics'
temporaries (and the PRNG bits)."""


def parse_shape(text: str) -> tuple[int, ...]:
  """``"784,128"`` -> ``(784, 128)``; an empty string is the 0-D shape ``()``.

  Raises:
    ValueError: anything but comma-separated non-negative ints.
  """
  parts = [p.strip() for p in text.split(",")] if text.strip() else []
  if not all(p.isascii() and p.isdigit() for p in parts):
    raise ValueError(f"{SHAPE_HELP}; got {text!r}")
  return tuple(int(p) for p in parts)


def parse_dtype(text: str) -> np.dtype:
  """A dtype by name (the initializer then refuses non-floating ones); raises ValueError naming the
  accepted ones for a name that is no dtype."""
  try:
    return jnp.dtype(text)
  except TypeError:
    raise ValueError(f"--dtype {text!r} is not a dtype; accepted: {', '.join(DTYPES)}") from None


@dataclasses.dataclass(frozen=True)
class Description:
  """A draw's statistics beside its target.

  Attributes:
    name: the canonical scheme name.
    formula: the scheme's formula.
    shape, dtype, seed: what was drawn.
    fan_in, fan_out: the shape's fans.
    target: the :class:`jaxinit.initializers.Target` for ``shape`` (None for an empty shape).
    stats: ``mean``, ``std``, ``variance``, ``mean_sq``, ``min``, ``max`` of the draw (float
      computed in float32 or wider); empty for an empty draw.
    draw: the drawn array.
  """

  name: str
  formula: str
  shape: tuple[int, ...]
  dtype: str
  seed: int
  fan_in: int
  fan_out: int
  target: Any
  stats: dict[str, float]
  draw: Any

  def lines(self) -> list[str]:
    """What ``jaxinit sample`` prints: the header fields, then draw vs target per statistic."""
    head = [f"scheme   {self.name}", f"formula  {self.formula}", f"shape    {self.shape}",
            f"dtype    {self.dtype}", f"fan_in   {self.fan_in}", f"fan_out  {self.fan_out}",
            f"seed     {self.seed}"]
    if not self.stats:
      return [*head, "the draw is empty: no statistics"]
    t = self.target
    lo, hi = ("-", "-") if t.bound is None else (f"{t.mean - t.bound:.6g}", f"{t.mean + t.bound:.6g}")
    targets = {"mean": f"{t.mean:.6g}", "std": f"{math.sqrt(t.variance):.6g}",
               "variance": f"{t.variance:.6g}", "mean_sq": f"{t.variance + t.mean ** 2:.6g}",
               "min": lo, "max": hi}
    rows = [("", "draw", f"target ({t.family})")]
    rows += [(k, f"{v:.6g}", targets[k]) for k, v in self.stats.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    table = [f"{r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {r[2]}".rstrip() for r in rows]
    note = ([f"note: {t.family} entries are not independent; the target mean_sq is the exact mean "
             "square over all entries, equal to the draw's mean_sq for every draw"]
            if t.family in STRUCTURED else [])
    return [*head, *table, *note]


def _check_memory(shape: Sequence[int], dtype: np.dtype) -> None:
  need = math.prod(shape) * max(dtype.itemsize, 4) * _WORKING_COPIES
  free, _ = placement.working_bytes()
  if free is not None and need > free:
    raise ValueError(f"a draw of shape {tuple(shape)} ({math.prod(shape):,} entries) needs about "
                     f"{need / 1e9:.3g} GB while drawing and measuring it; {free / 1e9:.3g} GB is "
                     "available; choose a smaller --shape")


def describe(name: str, shape: Sequence[int], seed: int = 0, dtype: Any = "float32"
             ) -> Description:
  """Draws ``name`` once and measures it.

  Args:
    name: a scheme name or alias, e.g. ``"he_normal"`` or ``"normal(stddev=0.5)"``.
    shape: the shape, in the Flax layout ``(..., in, out)`` unless the scheme names its axes
      (``he_normal(in_axis=-1, out_axis=-2)`` for ``(out, in)``).
    seed: the PRNG seed, in ``[0, 2^32)``.
    dtype: one of :data:`DTYPES` (a name or a dtype); float64 switches on jax's x64 mode for this
      draw only.

  Returns:
    The :class:`Description`.

  Raises:
    ValueError: an unknown scheme, a bad shape, seed or dtype, or a draw too large for the memory
      available (the message gives the estimate).
  """
  init = initializers.get(name)
  if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < population.MAX_SEED:
    # jax.random.key keeps 32 bits of the seed unless x64 is on: larger seeds would repeat others.
    raise ValueError(f"seed {seed!r} is out of range; accepted: an int in [0, 2^32)")
  dtype = parse_dtype(dtype) if isinstance(dtype, str) else jnp.dtype(dtype)
  shape = tuple(int(d) for d in shape)
  _check_memory(shape, dtype)
  target = init.target(shape) if math.prod(shape) else None  # an empty draw has no distribution
  x64 = jax.enable_x64(True) if dtype == jnp.float64 else contextlib.nullcontext()
  with x64:
    w = init(jax.random.key(seed), shape, dtype)
    stats: dict[str, float] = {}
    if w.size:
      x = w if w.dtype.itemsize >= 4 else w.astype(jnp.float32)
      stats = {"mean": jnp.mean(x), "std": jnp.std(x), "variance": jnp.var(x),
               "mean_sq": jnp.mean(x * x), "min": jnp.min(x), "max": jnp.max(x)}
      stats = {k: float(v) for k, v in stats.items()}
    fan_in, fan_out = init.fans(shape)
  return Description(init.name, init.formula, shape, str(w.dtype), seed, int(fan_in), int(fan_out),
                     target, stats, w)


def _columns(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
  """Left-aligns columns; the last column is not padded."""
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
  padded = ([c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)] + [r[-1]] for r in rows)
  return [(indent + "  ".join(cells)).rstrip() for cells in padded]


def _signature(factory: Any) -> str:
  """``gain=1.0, mode=fan_in``: a factory's parameters with defaults, as a scheme string writes them."""
  params = inspect.signature(factory).parameters.values()
  return ", ".join(f"*{p.name}" if p.kind is inspect.Parameter.VAR_POSITIONAL
                   else p.name if p.default is inspect.Parameter.empty
                   else f"{p.name}={names.format_value(p.default)}" for p in params)


def catalog() -> list[str]:
  """What ``jaxinit schemes`` prints: every initializer with its formula and parameters, the
  aliases, the whole-network schemes and the activations."""
  from jaxinit import activations
  from jaxinit import schemes as scheme_registry

  inits = [(n, initializers.get(n).formula, _signature(initializers.FACTORIES[n]) or "-")
           for n in initializers.known()]
  acts = [(n, _signature(activations.FACTORIES[n]) or "-") for n in activations.known()]
  whole = [(n, _signature(scheme_registry.FACTORIES[n])) for n in sorted(scheme_registry.FACTORIES)]
  return [
      f"initializers ({len(inits)}): name, formula, parameters with defaults", *_columns(inits),
      "", f"initializer aliases ({len(initializers.ALIASES)}): alias -> canonical",
      *(f"  {a} -> {c}" for a, c in sorted(initializers.ALIASES.items())),
      "", f"whole-network schemes ({len(whole)}, for sweep/diagnose --schemes): name, parameters "
      "with defaults", *_columns(whole),
      "", f"activations ({len(acts)}): name, parameters with defaults", *_columns(acts),
      "", f"activation aliases ({len(activations.ALIASES)}): alias -> canonical",
      *(f"  {a} -> {c}" for a, c in sorted(activations.ALIASES.items()))]
