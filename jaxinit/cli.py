"""The ``jaxinit`` command line.

``jaxinit schemes`` lists the initialization schemes, aliases and activations; ``jaxinit sample
NAME --shape 784,128`` draws one array and compares its statistics with the scheme's target. Each
subcommand is one ``_cmd_*`` function registered in :func:`_parser`; library errors (an unknown
scheme, a bad shape or dtype) print ``jaxinit: error: <message>`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import math
import sys
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxinit import activations, initializers, names

__all__ = ["main"]

STRUCTURED = ("orthogonal", "delta_orthogonal", "identity")
SHAPE_HELP = "--shape must be comma-separated non-negative ints, e.g. 784,128"


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
  """Left-aligns columns; the last column is not padded."""
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
  padded = ([c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)] + [r[-1]] for r in rows)
  return [(indent + "  ".join(cells)).rstrip() for cells in padded]


def _signature(factory: object) -> str:
  """``gain=1.0, mode=fan_in``: a factory's parameters with defaults, as a scheme string writes them."""
  params = inspect.signature(factory).parameters.values()
  return ", ".join(p.name if p.default is inspect.Parameter.empty
                   else f"{p.name}={names.format_value(p.default)}" for p in params)


def _cmd_schemes(args: argparse.Namespace) -> int:
  schemes = [(n, initializers.get(n).formula, _signature(initializers.FACTORIES[n]) or "-")
             for n in initializers.known()]
  acts = [(n, _signature(activations.FACTORIES[n]) or "-") for n in activations.known()]
  print(f"initializers ({len(schemes)}): name, formula, parameters with defaults")
  print("\n".join(_table(schemes)))
  print(f"\ninitializer aliases ({len(initializers.ALIASES)}): alias -> canonical")
  print("\n".join(f"  {a} -> {c}" for a, c in sorted(initializers.ALIASES.items())))
  print(f"\nactivations ({len(acts)}): name, parameters with defaults")
  print("\n".join(_table(acts)))
  print(f"\nactivation aliases ({len(activations.ALIASES)}): alias -> canonical")
  print("\n".join(f"  {a} -> {c}" for a, c in sorted(activations.ALIASES.items())))
  return 0


def _parse_shape(text: str) -> tuple[int, ...]:
  """``"784,128"`` -> ``(784, 128)``; an empty string is the 0-D shape ``()``."""
  parts = [p.strip() for p in text.split(",")] if text.strip() else []
  if not all(p.isascii() and p.isdigit() for p in parts):
    raise ValueError(f"{SHAPE_HELP}; got {text!r}")
  return tuple(int(p) for p in parts)


def _parse_dtype(text: str) -> jnp.dtype:
  try:
    return jnp.dtype(text)
  except TypeError:
    raise ValueError(f"--dtype {text!r} is not a dtype; accepted: float32, float64, float16, "
                     "bfloat16") from None


def _cmd_sample(args: argparse.Namespace) -> int:
  # Imported here so that `jaxinit schemes` does not pay for matplotlib.
  from jaxinit import plots

  init = initializers.get(args.name)
  # jax.random.key keeps 32 bits of the seed unless x64 is on: larger seeds would repeat others.
  if not 0 <= args.seed < 2 ** 32:
    raise ValueError(f"--seed {args.seed} is out of range; accepted: an int in [0, 2^32)")
  shape = _parse_shape(args.shape)
  dtype = _parse_dtype(args.dtype)
  if args.plot is not None:
    plots.check_path(args.plot)
    if math.prod(shape) == 0:
      raise ValueError(f"--plot needs a non-empty draw; shape {shape} has no entries")
  # float64 needs jax's x64 mode, switched on only for this draw.
  x64 = jax.enable_x64(True) if dtype == jnp.float64 else contextlib.nullcontext()
  with x64:
    w = init(jax.random.key(args.seed), shape, dtype)
    fan_in, fan_out = initializers.fans(shape)
    print(f"scheme   {init.name}\nformula  {init.formula}\nshape    {shape}\ndtype    {w.dtype}\n"
          f"fan_in   {fan_in}\nfan_out  {fan_out}\nseed     {args.seed}")
    if w.size == 0:
      print("the draw is empty: no statistics")
      return 0
    x = w if w.dtype.itemsize >= 4 else w.astype(jnp.float32)
    t = init.target(shape)
    draw = [jnp.mean(x), jnp.std(x), jnp.var(x), jnp.mean(x * x), jnp.min(x), jnp.max(x)]
    mean_sq = t.variance + t.mean ** 2
    lo, hi = ("-", "-") if t.bound is None else (f"{t.mean - t.bound:.6g}", f"{t.mean + t.bound:.6g}")
    rows = [("", "draw", f"target ({t.family})")]
    rows += [(label, f"{float(d):.6g}", tv) for label, d, tv in zip(
        ("mean", "std", "variance", "mean_sq", "min", "max"), draw,
        (f"{t.mean:.6g}", f"{math.sqrt(t.variance):.6g}", f"{t.variance:.6g}", f"{mean_sq:.6g}",
         lo, hi), strict=True)]
    print("\n".join(_table(rows, indent="")))
  if t.family in STRUCTURED:
    print(f"note: {t.family} entries are not independent; the target mean_sq is the exact mean "
          "square over all entries, equal to the draw's mean_sq for every draw")
  if args.plot is not None:
    plots.sample_histogram(w, t, init.name, args.plot)
    print(f"histogram written to {args.plot}")
  return 0


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="jaxinit", description="Weight initialization schemes in JAX/Flax.")
  sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

  p = sub.add_parser("schemes", help="list the initializers, their aliases and the activations")
  p.set_defaults(func=_cmd_schemes)

  p = sub.add_parser("sample", help="draw one array and compare its statistics with the target")
  p.add_argument("name", nargs="?", default="he_normal",
                 help="scheme name or call, e.g. he_normal or 'normal(stddev=0.5)' (default he_normal)")
  p.add_argument("--shape", default="784,128",
                 help="comma-separated dims in the Flax layout (..., in, out); default 784,128")
  p.add_argument("--seed", type=int, default=0, help="PRNG seed for jax.random.key (default 0)")
  p.add_argument("--dtype", default="float32",
                 help="float32 (default), float64, float16 or bfloat16")
  p.add_argument("--plot", metavar="FILE", help="write a histogram (.png, .pdf or .svg)")
  p.set_defaults(func=_cmd_sample)
  return parser


def main(argv: list[str] | None = None) -> int:
  """Runs the command line on ``argv`` (default ``sys.argv[1:]``) and returns the exit status."""
  argv = list(sys.argv[1:] if argv is None else argv)
  # argparse reads "--shape -1,4" as an option with no value; pass it on so _parse_shape explains.
  for i in range(len(argv) - 1):
    if argv[i] == "--shape" and argv[i + 1].startswith("-"):
      argv[i:i + 2] = [f"--shape={argv[i + 1]}"]
      break
  try:
    args = _parser().parse_args(argv)
  except SystemExit as e:  # --help (0) or a usage error (2), already printed by argparse
    return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
  try:
    return args.func(args)
  except (ValueError, TypeError, ArithmeticError) as e:
    print(f"jaxinit: error: {e}", file=sys.stderr)
    return 2
  except OSError as e:
    print(f"jaxinit: error: {e}", file=sys.stderr)
    return 1


if __name__ == "__main__":
  raise SystemExit(main())
