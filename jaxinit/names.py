"""Canonical scheme strings: parse ``"name(arg, key=value)"`` and print it back.

Every scheme (initializer, activation) has one canonical string that round-trips: parsing it and
printing the result gives the same string back. The grammar is a Python call expression, so the
parser is :mod:`ast` rather than a hand-written tokenizer; bare identifiers are read as strings, so
``variance_scaling(scale=2.0, mode=fan_in, distribution=uniform)`` needs no quotes, and a nested call
(``lsuv(base=orthogonal(gain=2.0))``) is kept as its own canonical string.
"""

from __future__ import annotations

import ast
import inspect
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

__all__ = ["parse", "build", "lookup", "check_number", "check_int", "format_call", "format_value",
           "split_list", "ints", "floats", "seeds", "MAX_SEEDS"]


def parse(text: str) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
  """Splits a scheme string into its name, positional and keyword arguments.

  Args:
    text: e.g. ``"he_normal"``, ``"constant(0.005)"``, ``"normal(stddev=1e-2)"``.

  Returns:
    ``(name, args, kwargs)``: the lower-cased name, positional values and keyword values, each a
    number, a string (bare identifiers and quoted strings alike), a tuple, or a nested scheme string.

  Raises:
    ValueError: if ``text`` is not a name optionally followed by one call with literal arguments.

  >>> parse("variance_scaling(scale=2, mode=fan_in)")
  ('variance_scaling', (), {'scale': 2, 'mode': 'fan_in'})
  """
  if not isinstance(text, str):
    raise TypeError(f"a scheme name must be a string, got {type(text).__name__}")
  try:
    node = ast.parse(text.strip(), mode="eval").body
  except SyntaxError:
    raise ValueError(
        f"cannot parse scheme {text!r}; accepted: a name such as 'he_normal' or a call such as "
        "'normal(stddev=0.01)'") from None
  if isinstance(node, ast.Name):
    return node.id.lower(), (), {}
  if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
    raise ValueError(
        f"cannot parse scheme {text!r}; accepted: a name such as 'he_normal' or a call such as "
        "'normal(stddev=0.01)'")
  args = tuple(_literal(a, text) for a in node.args)
  kwargs = {}
  for kw in node.keywords:
    if kw.arg is None:
      raise ValueError(f"cannot parse scheme {text!r}: '**' arguments are not accepted")
    if kw.arg in kwargs:
      raise ValueError(f"cannot parse scheme {text!r}: {kw.arg} is given twice; accepted: each "
                       "parameter once")
    kwargs[kw.arg] = _literal(kw.value, text)
  return node.func.id.lower(), args, kwargs


def _literal(node: ast.AST, text: str) -> Any:
  if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
    return node.value
  if isinstance(node, ast.Name):
    return node.id
  if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
    value = _literal(node.operand, text)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
      return -value if isinstance(node.op, ast.USub) else value
  if isinstance(node, ast.Tuple):
    return tuple(_literal(e, text) for e in node.elts)
  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
    return ast.unparse(node)
  raise ValueError(
      f"cannot parse argument {ast.unparse(node)!r} in scheme {text!r}; accepted: numbers, "
      "names, tuples and nested scheme calls")


def check_number(name: str, owner: str, value: Any, minimum: float | None = None,
                 strict: bool = False) -> Any:
  """Validates a scheme's numeric parameter: a finite real number, optionally bounded below.

  Args:
    name: the parameter, for messages (``"stddev"``).
    owner: the scheme it belongs to, for messages (``"normal"``).
    value: a Python or NumPy number, a concrete 0-d array, or a jax tracer (passed through
      unchecked, so the parameter can be swept under ``jax.vmap``).
    minimum: lower bound, inclusive unless ``strict``.

  Returns:
    ``float(value)`` for Python and NumPy numbers (so names print one way), else ``value``.

  Raises:
    TypeError: a string, bool or other non-number.
    ValueError: a non-finite value or one below ``minimum``.
  """
  if isinstance(value, jax.core.Tracer):
    return value
  if isinstance(value, (str, bool, np.bool_)):
    raise TypeError(f"{owner}: {name}={value!r} is not a number; accepted: a real number")
  try:
    v = float(value)
  except (TypeError, ValueError, OverflowError):
    raise TypeError(f"{owner}: {name}={value!r} is not a number; accepted: a real number") from None
  if not math.isfinite(v) or (minimum is not None and (v <= minimum if strict else v < minimum)):
    rule = "finite" if minimum is None else f"{'>' if strict else '>='} {minimum}"
    raise ValueError(f"{owner}: {name}={value!r} is out of range; accepted: a number {rule}")
  return v if isinstance(value, (int, float, np.number)) else value


def check_int(name: str, owner: str, value: Any, minimum: int) -> int:
  """Validates an integer parameter (a Python or NumPy int, not a bool) bounded below.

  Returns:
    ``value`` as a Python int.

  Raises:
    ValueError: a non-integer, a bool, or a value below ``minimum``.
  """
  try:
    v = operator.index(value)
  except TypeError:
    v = None
  if v is None or isinstance(value, (bool, np.bool_)) or v < minimum:
    raise ValueError(f"{owner}: {name}={value!r} is out of range; accepted: an int >= {minimum}")
  return v


def format_value(value: Any) -> str:
  """Prints one argument value canonically: ints as ints, floats by their shortest round-trip repr.

  A jax tracer (a parameter swept under ``jax.vmap``) has no value to print and shows as
  ``<traced>``; such a name is for display only and does not parse back.
  """
  if isinstance(value, (bool, int, str)) or value is None:
    return str(value)
  if isinstance(value, tuple):
    inner = ", ".join(format_value(v) for v in value)
    return f"({inner},)" if len(value) == 1 else f"({inner})"
  if isinstance(value, jax.core.Tracer):
    return "<traced>"
  if hasattr(value, "name") and isinstance(value.name, str):  # a nested scheme object
    return value.name
  value = float(value)
  if not math.isfinite(value):
    raise ValueError(f"non-finite parameter {value} has no scheme name; accepted: finite numbers")
  return repr(value)


def format_call(name: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> str:
  """Prints ``name(arg, key=value, ...)``, or just ``name`` when there are no arguments."""
  parts = [format_value(a) for a in args]
  parts += [f"{k}={format_value(v)}" for k, v in (kwargs or {}).items()]
  return f"{name}({', '.join(parts)})" if parts else name


def build(text: str, factories: dict[str, Callable[..., Any]], aliases: dict[str, str],
          kind: str) -> Any:
  """Builds the object a scheme string names from a registry of factories.

  Args:
    text: the scheme string, e.g. ``"xavier_normal(gain=2.0)"``.
    factories: canonical name -> factory taking the string's arguments.
    aliases: alias -> canonical string, which may carry arguments (``"random_normal"`` ->
      ``"normal(stddev=0.05)"``); arguments given with an alias are passed on when the alias
      carries none of its own.
    kind: what is built ("initializer", "activation"), for error messages.

  Returns:
    ``factories[name](*args, **kwargs)``.

  Raises:
    ValueError: an unknown name (the message lists the known names and aliases), arguments
      the factory does not take (the message lists the ones it does), or values it rejects.
  """
  base, args, kwargs = parse(text)
  if base in aliases:
    target, alias_args, alias_kwargs = parse(aliases[base])
    if (args or kwargs) and (alias_args or alias_kwargs):
      raise ValueError(
          f"{kind} alias {base!r} stands for {aliases[base]!r} and takes no arguments; "
          f"write the canonical form with your arguments instead")
    base, args, kwargs = target, args or alias_args, kwargs or alias_kwargs
  if base not in factories:
    alias_list = ", ".join(f"{a}={c}" for a, c in sorted(aliases.items()))
    raise ValueError(
        f"unknown {kind} {text!r}; known: {', '.join(sorted(factories))} (aliases: {alias_list})")
  factory = factories[base]
  signature = inspect.signature(factory)
  try:
    signature.bind(*args, **kwargs)
  except TypeError as e:
    accepted = ", ".join(signature.parameters) or "no parameters"
    raise ValueError(f"bad parameters in {kind} {text!r} ({e}); accepted: {accepted}") from None
  try:
    return factory(*args, **kwargs)
  except TypeError as e:  # a parameter of the wrong kind, e.g. stddev=abc: a bad name, so ValueError
    raise ValueError(str(e)) from None


def lookup(name: Any, cls: type, factories: dict[str, Callable[..., Any]], aliases: dict[str, str],
           kind: str, example: str | None = None) -> Any:
  """A registry's ``get``: ``name`` itself if it is already a ``cls``, else :func:`build` of it.

  Raises:
    TypeError: neither a ``cls`` nor a string (the message shows ``example``, by default the first
      registered name).
    ValueError: as :func:`build`.
  """
  if isinstance(name, cls):
    return name
  if not isinstance(name, str):
    example = sorted(factories)[0] if example is None else example
    raise TypeError(f"a {kind} is a name such as {example!r}; got {type(name).__name__}")
  return build(name, factories, aliases, kind)


def split_list(text: str, what: str = "list") -> list[str]:
  """Splits a comma-separated list of scheme strings at the commas outside parentheses, braces
  (a rule set's JSON object) and double quotes.

  >>> split_list("zeros, normal(stddev=10), uniform(low=-1, high=1)")
  ['zeros', 'normal(stddev=10)', 'uniform(low=-1, high=1)']
  >>> split_list('he_normal,{"*/kernel": "zeros", "*": "as_built"}')
  ['he_normal', '{"*/kernel": "zeros", "*": "as_built"}']

  Raises:
    ValueError: unbalanced parentheses or braces, or an empty entry.
  """
  parts, depth, start, quoted = [], 0, 0, False
  for i, ch in enumerate(text):
    if ch == '"':
      quoted = not quoted
    if quoted:
      continue
    depth += {"(": 1, ")": -1, "{": 1, "}": -1}.get(ch, 0)
    if depth < 0:
      break
    if ch == "," and depth == 0:
      parts.append(text[start:i])
      start = i + 1
  parts.append(text[start:])
  parts = [p.strip() for p in parts]
  if depth != 0 or quoted:
    raise ValueError(f"unbalanced parentheses, braces or quotes in {what} {text!r}")
  if not all(parts):
    raise ValueError(f"empty entry in {what} {text!r}; accepted: comma-separated names, e.g. "
                     "'zeros,he_normal'")
  return parts


def ints(text: str, what: str = "list") -> tuple[int, ...]:
  """Comma-separated positive ints (widths, channels, depths).

  >>> ints("128,64,10")
  (128, 64, 10)
  """
  parts = [p.strip() for p in text.split(",")]
  if not all(p.isascii() and p.isdigit() for p in parts):
    raise ValueError(f"{what} must be comma-separated positive ints, e.g. 128,64,10; got {text!r}")
  return tuple(int(p) for p in parts)


def floats(text: str, what: str = "list") -> tuple[float, ...]:
  """Comma-separated numbers (learning rates, momenta, scales).

  >>> floats("0.1,1e-3")
  (0.1, 0.001)
  """
  try:
    return tuple(float(p) for p in text.split(","))
  except ValueError:
    raise ValueError(f"{what} must be comma-separated numbers, e.g. 0.1,0.01; got {text!r}") from None


MAX_SEEDS = 2 ** 24
"""The most seeds a seed list may give (:func:`seeds`): 16,777,216 networks per scheme already
outgrow the memory of any one device for all but the smallest models."""


def seeds(text: str, what: str = "--seeds") -> tuple[int, ...]:
  """A seed list: a count ``N`` (seeds 0..N-1), a range ``A:B`` (A..B-1) or a list ``1,4,9``
  (``"7,"`` is seed 7 alone).

  >>> seeds("3"), seeds("5:7"), seeds("1,4,9"), seeds("7,")
  ((0, 1, 2), (5, 6), (1, 4, 9), (7,))
  """
  help_ = f"{what} takes a count N (seeds 0..N-1), a range A:B, or a list like 1,4,9"
  try:
    if ":" in text:
      a, b = (int(p) for p in text.split(":"))
      out: Sequence[int] = range(a, b)
    elif "," in text:
      out = [int(p) for p in text.split(",") if p.strip()]
    else:
      out = range(int(text))
  except ValueError:
    raise ValueError(f"{help_}; got {text!r}") from None
  if len(out) > MAX_SEEDS:  # a range's length is known before a tuple of it is built
    raise ValueError(f"{what} {text!r} asks for {len(out):,} seeds; accepted: at most "
                     f"{MAX_SEEDS:,} (2^24) per population")
  if not out:
    raise ValueError(f"{help_}; {text!r} gives no seeds")
  return tuple(out)
