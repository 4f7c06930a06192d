r"""Init rules by parameter path: a scheme for any model, as an ordered ``pattern -> initializer`` list.

A rule set is written as a JSON object whose keys are path patterns and whose values are
initializer names (:mod:`jaxinit.initializers`) or ``"as_built"`` (keep the value the model's own
initializer drew)::

    {"*/kernel": "he_normal", "*/bias": "zeros", "head/kernel": "zeros"}

Each parameter leaf takes the initializer of the **first** pattern that matches its ``/``-joined path
(``"encoder/proj_a/kernel"``), as optax's ``multi_transform`` labels and Flax's partition rules do.
A pattern is a shell glob over the whole path (``fnmatch``: ``*`` matches across ``/``, so
``"*/kernel"`` is every kernel) or, prefixed ``re:``, a Python regular expression that must match the
whole path (``"re:.*attn/(query|key)/kernel"``). A leaf that no rule matches, or a rule that matches no
leaf, is an error naming them.

**Keys.** Leaf ``p``'s draw uses :func:`leaf_key`: ``fold_in(fold_in(key(seed), RULES_STREAM),
crc32(p))``, so it depends only on the member's seed and the leaf's path, never on the other leaves
or the rule order, and two rule sets draw the same leaf from the same random numbers (common random
numbers, as for the built-in schemes).

**Fans.** An initializer computes its fans from the shape it draws (Flax's convention: the last axis
is fan-out, the one before fan-in, any others the receptive field). Each leaf is drawn in its
layer's :class:`jaxinit.nets.protocol.Layout` form and reshaped: a dense or conv kernel as it is,
an embedding table ``(vocabulary, features)`` as a dense layer from one-hot inputs, an attention
projection ``(d_model, heads, d_head)`` as ``(d_model, heads * d_head)`` and its output projection
``(heads, d_head, d_model)`` as ``(heads * d_head, d_model)``.

Names round-trip: :attr:`RuleSet.name` is the canonical JSON text (initializer names canonical), and
``parse(rule_set.name) == rule_set``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import jax

from jaxinit import initializers
from jaxinit.nets import protocol

__all__ = ["RuleSet", "parse", "is_rule_set", "assign", "draw", "leaf_key", "AS_BUILT",
           "RULES_STREAM", "from_initializers"]

AS_BUILT = "as_built"
"""The initializer name that keeps the model's own draw for the leaves its pattern matches."""
RULES_STREAM = 0x2B1E
"""The stream of the rules' leaf keys: ``fold_in(key(seed), RULES_STREAM)``."""


@dataclasses.dataclass(frozen=True)
class RuleSet:
  """An ordered list of ``(pattern, initializer name)`` rules (module docstring).

  Attributes:
    rules: the rules in order; each name canonical (or :data:`AS_BUILT`).
    strict: a rule that matches no leaf is an error (a rule set a user wrote); the rule sets
      derived from a named scheme (:func:`from_initializers`) are not strict, so ``"*/bias"`` may
      find no bias in a model without any.
  """

  rules: tuple[tuple[str, str], ...]
  strict: bool = True

  @property
  def name(self) -> str:
    """The canonical JSON text; :func:`parse` rebuilds an equal rule set from it."""
    return json.dumps(dict(self.rules), separators=(", ", ": "))


def is_rule_set(text: Any) -> bool:
  """Whether ``text`` is written as a rule set (a JSON object)."""
  return isinstance(text, str) and text.lstrip().startswith("{")


def _pairs(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
  seen = [k for k, _ in pairs]
  if len(set(seen)) != len(seen):
    dup = sorted({k for k in seen if seen.count(k) > 1})
    raise ValueError(f"init rules: pattern {dup[0]!r} appears twice; each pattern once (the first "
                     "match wins)")
  return pairs


def parse(text: str | Mapping[str, str] | RuleSet) -> RuleSet:
  """The :class:`RuleSet` of a JSON object text, a mapping or a rule set.

  Raises:
    ValueError: text that is not a JSON object of strings, an empty one, a duplicate pattern, an
      empty pattern, a bad regular expression, or an unknown initializer name.

  >>> parse('{"*/kernel": "he_normal", "*/bias": "zeros"}').name
  '{"*/kernel": "he_normal", "*/bias": "zeros"}'
  """
  if isinstance(text, RuleSet):
    return text
  if isinstance(text, Mapping):
    pairs = list(text.items())
  else:
    try:
      pairs = json.loads(text, object_pairs_hook=_pairs)
    except json.JSONDecodeError as e:
      raise ValueError(f"init rules {text!r} are not a JSON object ({e.msg} at character {e.pos}); "
                       'accepted: e.g. {"*/kernel": "he_normal", "*/bias": "zeros"}') from None
    if not isinstance(pairs, list):
      raise ValueError(f"init rules must be a JSON object of pattern -> initializer; got {text!r}")
  if not pairs:
    raise ValueError('init rules are empty; accepted: e.g. {"*/kernel": "he_normal", "*": '
                     '"as_built"}')
  rules = []
  for pattern, init in pairs:
    if not isinstance(pattern, str) or not pattern.strip():
      raise ValueError(f"init rules: a pattern must be a non-empty string; got {pattern!r}")
    if not isinstance(init, str):
      raise ValueError(f"init rules: pattern {pattern!r} maps to {init!r}; accepted: an "
                       f"initializer name or {AS_BUILT!r}")
    if pattern.startswith("re:"):
      try:
        re.compile(pattern[3:])
      except re.error as e:
        raise ValueError(f"init rules: {pattern!r} is not a regular expression ({e})") from None
    rules.append((pattern, init if init == AS_BUILT else initializers.get(init).name))
  return RuleSet(tuple(rules))


def from_initializers(kernel: initializers.Initializer, bias: initializers.Initializer
                      ) -> RuleSet:
  """The rule set of a named scheme on any model: every leaf named ``kernel`` from ``kernel``,
  every ``bias`` from ``bias``, every other leaf (embeddings, normalization scales) as built."""
  return RuleSet((("re:(.*/)?kernel", kernel.name), ("re:(.*/)?bias", bias.name), ("*", AS_BUILT)),
                 strict=False)


def _matches(pattern: str, path: str) -> bool:
  if pattern.startswith("re:"):
    return re.fullmatch(pattern[3:], path) is not None
  return fnmatch.fnmatchcase(path, pattern)


def assign(rule_set: RuleSet, paths: Sequence[str]) -> dict[str, str]:
  """Each path's initializer name under ``rule_set`` (the first matching rule).

  Raises:
    ValueError: paths that no rule matches, or (a strict rule set) rules that match no path; the
      message names them and the model's paths.
  """
  out, used = {}, set()
  for path in paths:
    for pattern, init in rule_set.rules:
      if _matches(pattern, path):
        out[path] = init
        used.add(pattern)
        break
  missing = [p for p in paths if p not in out]
  if missing:
    raise ValueError(f"init rules {rule_set.name} match no rule for {', '.join(missing)}; add a "
                     f"rule for them (e.g. \"*\": \"{AS_BUILT}\" keeps the model's own draw); the "
                     f"model's parameters: {', '.join(paths)}")
  unused = [p for p, _ in rule_set.rules if p not in used]
  if rule_set.strict and unused:
    raise ValueError(f"init rules: {', '.join(map(repr, unused))} match no parameter (or only ones "
                     f"an earlier rule took); the model's parameters: {', '.join(paths)}")
  return out


def leaf_key(key: jax.Array, path: str) -> jax.Array:
  """The key leaf ``path`` is drawn with: ``fold_in(fold_in(key, RULES_STREAM), crc32(path))``."""
  return jax.random.fold_in(jax.random.fold_in(key, RULES_STREAM), zlib.crc32(path.encode()))


def draw(rule_set: RuleSet, model: protocol.Model, variables: dict, key: jax.Array,
         input_shape: Sequence[int]) -> dict:
  """``variables`` with every parameter leaf redrawn by its rule (``as_built`` leaves kept).

  Args:
    rule_set: the rules.
    model: the model (for each leaf's :class:`jaxinit.nets.protocol.Layout`).
    variables: one member's ``{"params": ..., **state}`` as the model built them.
    key: the member's key; leaf ``p`` is drawn with ``leaf_key(key, p)``.
    input_shape: one example's shape (a linen model's layouts are traced for it).

  Raises:
    ValueError: unmatched leaves or unused rules (:func:`assign`).
  """
  leaves, treedef = jax.tree_util.tree_flatten_with_path(variables["params"])
  paths = [protocol.path_str(p) for p, _ in leaves]
  names = assign(rule_set, paths)
  layouts = model.layouts((1, *input_shape))
  out = []
  for path, (_, value) in zip(paths, leaves, strict=True):
    if names[path] == AS_BUILT:
      out.append(value)
      continue
    layout = layouts.get(path.rpartition("/")[0], protocol.Layout())
    shape = tuple(value.shape)
    drawn = initializers.get(names[path])(leaf_key(key, path), layout.draw_shape(shape), value.dtype)
    out.append(drawn.reshape(shape))
  return {**variables, "params": jax.tree.unflatten(treedef, out)}
