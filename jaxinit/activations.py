"""The activation registry: canonical name -> elementwise function.

Activations are looked up by the same kind of string as initializers (``"tanh"``,
``"leaky_relu(negative_slope=0.2)"``) so a sweep, a figure and a paper table can all name them the
same way. Each is a plain ``jax.numpy`` function, usable under ``jit``, ``vmap`` and ``grad``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxinit import names

__all__ = ["Activation", "get", "known", "ALIASES", "FACTORIES"]


@dataclasses.dataclass(frozen=True)
class Activation:
  """An elementwise nonlinearity with its canonical name.

  Attributes:
    kind: the registry entry, e.g. ``"leaky_relu"``.
    fn: ``fn(x) -> y``, elementwise, same shape and dtype as ``x``.
    params: the entry's parameters as ``(name, value)`` pairs, e.g. ``(("negative_slope", 0.2),)``.
  """

  kind: str
  fn: Callable[[jax.Array], jax.Array] = dataclasses.field(compare=False, repr=False)
  params: tuple[tuple[str, float], ...] = ()

  @property
  def name(self) -> str:
    """The canonical string; ``get(name)`` rebuilds an equal activation."""
    return names.format_call(self.kind, kwargs=dict(self.params))

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.fn(x)


def _leaky_relu(negative_slope: float = 0.01) -> Activation:
  a = names.check_number("negative_slope", "leaky_relu", negative_slope)
  return Activation("leaky_relu", lambda x: jnp.where(x >= 0, x, a * x), (("negative_slope", a),))


def _elu(alpha: float = 1.0) -> Activation:
  alpha = names.check_number("alpha", "elu", alpha)
  return Activation("elu", lambda x: jax.nn.elu(x, alpha), (("alpha", alpha),))


def _gelu(x: jax.Array) -> jax.Array:
  # The exact form x * Phi(x) (torch's default), not jax.nn.gelu's tanh approximation: theory
  # (criticality, Gaussian expectations) is stated for the exact function.
  return jax.nn.gelu(x, approximate=False)


def _simple(name: str, fn: Callable[[jax.Array], jax.Array]) -> Callable[[], Activation]:
  return lambda: Activation(name, fn)


FACTORIES: dict[str, Callable[..., Activation]] = {
    "linear": _simple("linear", lambda x: x),
    "relu": _simple("relu", jax.nn.relu),
    "leaky_relu": _leaky_relu,
    "tanh": _simple("tanh", jnp.tanh),
    "sigmoid": _simple("sigmoid", jax.nn.sigmoid),
    "erf": _simple("erf", jax.scipy.special.erf),
    "gelu": _simple("gelu", _gelu),
    "selu": _simple("selu", jax.nn.selu),
    "elu": _elu,
    "silu": _simple("silu", jax.nn.silu),
    "softplus": _simple("softplus", jax.nn.softplus),
    "sin": _simple("sin", jnp.sin),
}

ALIASES: dict[str, str] = {"identity": "linear", "swish": "silu", "leakyrelu": "leaky_relu"}


def known() -> list[str]:
  """Returns the canonical activation names (without aliases), sorted."""
  return sorted(FACTORIES)


def get(name: str | Activation) -> Activation:
  """Builds an activation from its name.

  Args:
    name: canonical name or alias, optionally with parameters, e.g. ``"tanh"``, ``"swish"``,
      ``"leaky_relu(0.2)"``, ``"leaky_relu(negative_slope=0.2)"``; an :class:`Activation` is
      returned as it is.

  Returns:
    The :class:`Activation`; its ``name`` is the canonical string.

  Raises:
    ValueError: unknown name (the message lists the known ones) or parameters the activation does
      not take.

  >>> get("swish").name
  'silu'
  """
  if isinstance(name, Activation):
    return name
  return names.build(name, FACTORIES, ALIASES, "activation")
