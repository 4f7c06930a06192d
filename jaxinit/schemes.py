"""Population schemes: how a member's whole network is initialized, by a canonical name.

A scheme is a kernel initializer, a bias initializer and, for the data-dependent ones, a refinement
of the drawn variables. Every name of :mod:`jaxinit.initializers` is a scheme (its kernels; zero
biases), and three more act on the whole network:

* ``critical(<activation>)``: kernels ``N(0, C_W / fan_in)`` and biases ``N(0, C_b)`` at the
  activation's critical point (:func:`jaxinit.theory.critical_point`), e.g. ``critical(tanh)``
  (``C_W = 1, C_b = 0``), ``critical(gelu)``; an activation without one is a clear error.
* ``lsuv(tol=0.1, t_max=10, base=orthogonal)``: the ``base`` start, then :func:`jaxinit.datadep.lsuv`
  on a batch of training inputs (``needs_data``).
* ``metainit(steps=50, lr=0.1, batch=8, eps=1e-05, momentum=0.5, base=lecun_normal)``: the ``base``
  start, then :func:`jaxinit.datadep.metainit` on random inputs.

Names round-trip: ``get(get(n).name).name == get(n).name``; the data-dependent names always print
every hyperparameter, so a record says exactly what ran.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import flax.linen as nn
import jax

from jaxinit import activations, datadep, initializers, names, theory

__all__ = ["Scheme", "get", "known", "FACTORIES", "critical", "lsuv", "metainit"]

Refine = Callable[[nn.Module, dict, jax.Array, jax.Array], dict]
"""``(model, variables, key, x) -> variables`` for one member, jit- and vmap-able; ``x`` is a batch
``(B, *input_shape)``: real data when the scheme ``needs_data``, else only its shape counts."""


@dataclasses.dataclass(frozen=True, eq=False)
class Scheme:
  """How one member is initialized.

  Attributes:
    name: canonical string; ``get(name)`` rebuilds the same scheme.
    kernel_init: every layer's kernel initializer.
    bias_init: every layer's bias initializer.
    refine: applied to the drawn variables, or None.
    needs_data: ``refine`` needs a batch of real inputs (LSUV); the others use only its shape.
  """

  name: str
  kernel_init: initializers.Initializer
  bias_init: initializers.Initializer = dataclasses.field(default_factory=initializers.zeros)
  refine: Refine | None = dataclasses.field(default=None, repr=False)
  needs_data: bool = False


def critical(activation: str) -> Scheme:
  """Kernels ``N(0, C_W / fan_in)``, biases ``N(0, C_b)``, at ``activation``'s critical point.

  Raises:
    ValueError: an unknown activation, or one without a critical point (e.g. sigmoid).
  """
  act = activations.get(activation)
  crit = theory.critical_point(act)
  kernel = initializers.variance_scaling(scale=crit.C_W, mode="fan_in", distribution="normal")
  bias = initializers.normal(stddev=math.sqrt(crit.C_b)) if crit.C_b > 0 else initializers.zeros()
  return Scheme(names.format_call("critical", (act.name,)), kernel, bias)


def lsuv(tol: float = 0.1, t_max: int = 10, base: str = "orthogonal") -> Scheme:
  """LSUV (Mishkin & Matas 2016): the ``base`` start, then per-layer unit output variance on a
  data batch. See :func:`jaxinit.datadep.lsuv`."""
  tol = names.check_number("tol", "lsuv", tol, minimum=0.0, strict=True)
  t_max = names.check_int("t_max", "lsuv", t_max, 1)
  start = initializers.get(base)

  def refine(model: nn.Module, variables: dict, key: jax.Array, x: jax.Array) -> dict:
    del key
    return datadep.lsuv(model, variables, x, tol, t_max).variables

  name = names.format_call("lsuv", kwargs={"tol": tol, "t_max": t_max, "base": start.name})
  return Scheme(name, start, refine=refine, needs_data=True)


def metainit(steps: int = 50, lr: float = 0.1, batch: int = 8, eps: float = 1e-5,
             momentum: float = 0.5, base: str = "lecun_normal") -> Scheme:
  """MetaInit (Dauphin & Schoenholz 2019): the ``base`` start, then learned kernel norms. See
  :func:`jaxinit.datadep.metainit`."""
  steps = names.check_int("steps", "metainit", steps, 1)
  batch = names.check_int("batch", "metainit", batch, 1)
  lr = names.check_number("lr", "metainit", lr, minimum=0.0, strict=True)
  eps = names.check_number("eps", "metainit", eps, minimum=0.0, strict=True)
  momentum = names.check_number("momentum", "metainit", momentum, minimum=0.0)
  if momentum >= 1:
    raise ValueError(f"metainit: momentum={momentum} is out of range; accepted: a number in [0, 1)")
  start = initializers.get(base)

  def refine(model: nn.Module, variables: dict, key: jax.Array, x: jax.Array) -> dict:
    return datadep.metainit(model, variables, key, x.shape[1:], model.widths[-1], steps, lr, batch,
                            eps, momentum).variables

  name = names.format_call("metainit", kwargs={"steps": steps, "lr": lr, "batch": batch, "eps": eps,
                                               "momentum": momentum, "base": start.name})
  return Scheme(name, start, refine=refine)


FACTORIES: dict[str, Callable[..., Scheme]] = {"critical": critical, "lsuv": lsuv,
                                               "metainit": metainit}


def known() -> list[str]:
  """The scheme names: every initializer's and the whole-network ones, sorted."""
  return sorted([*initializers.known(), *FACTORIES])


def get(name: str | Scheme | initializers.Initializer) -> Scheme:
  """Builds a scheme from its name (an initializer name, or ``critical(...)``, ``lsuv(...)``,
  ``metainit(...)``); a :class:`Scheme` is returned as it is.

  Raises:
    ValueError: an unknown name (listing the known ones), or bad parameters.

  >>> get("critical(tanh)").kernel_init.name
  'variance_scaling(scale=1.0, mode=fan_in, distribution=normal)'
  >>> get("lsuv").name
  'lsuv(tol=0.1, t_max=10, base=orthogonal)'
  """
  if isinstance(name, Scheme):
    return name
  if isinstance(name, initializers.Initializer):
    return Scheme(name.name, name)
  return _build(name)


@functools.lru_cache(maxsize=1024)
def _build(name: str) -> Scheme:
  base = names.parse(name)[0]
  if base in FACTORIES:
    return names.build(name, FACTORIES, {}, "scheme")
  try:
    return Scheme((init := initializers.get(name)).name, init)
  except ValueError as e:
    if not str(e).startswith("unknown initializer"):
      raise
    raise ValueError(f"unknown scheme {name!r}; known: {', '.join(known())} (and the initializer "
                     f"aliases: {', '.join(sorted(initializers.ALIASES))})") from None
