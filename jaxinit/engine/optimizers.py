"""Optimizers by name, with the learning rate and momentum as per-member data.

An optimizer is named like a scheme (``"adam"``, ``"adam(b1=0.9, b2=0.999, eps=1e-08)"``) and the
canonical string round-trips, so it can be stored in ``run.json`` and typed on the command line.
Its constants (``b1``, ``b2``, ``eps``, ``weight_decay``, ``decay``) are part of the compiled
program; each member's learning rate, and its momentum where the optimizer has one, are values in
that member's optimizer state (``optax.inject_hyperparams``), so a population of many learning
rates x seeds trains in one compiled program.

============  ===============================================  ============
name          optax                                            per member
============  ===============================================  ============
``sgd``       ``sgd(lr)``: plain gradient descent              lr
``momentum``  ``sgd(lr, momentum)``: heavy ball (the default)  lr, momentum
``nesterov``  ``sgd(lr, momentum, nesterov=True)``             lr, momentum
``adam``      ``adam(lr, b1, b2, eps)``                        lr
``adamw``     ``adamw(lr, b1, b2, eps, weight_decay)``         lr
``rmsprop``   ``rmsprop(lr, decay, eps)``                      lr
============  ===============================================  ============

A member's momentum is ignored by the optimizers without one.

A learning-rate schedule (:func:`schedule`) multiplies every member's learning rate by the same
function of the step: ``constant``, ``cosine(alpha=0.0)`` (cosine decay from 1 to ``alpha`` over
the run) or ``warmup_cosine(warmup=0.05, alpha=0.0)`` (linear warmup from 0 over that fraction of
the run's steps, then cosine decay to ``alpha``) or ``warmup_constant(warmup=0.05)`` (the same
warmup, then constant), optax's schedules at peak 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import optax

from jaxinit import names

__all__ = ["Optimizer", "get", "known", "FACTORIES", "DEFAULT", "Schedule", "schedule",
           "SCHEDULES"]

DEFAULT = "momentum"


@dataclasses.dataclass(frozen=True)
class _Named:
  """A registry entry with its constants; :attr:`name` is its canonical, round-tripping string."""

  kind: str
  params: tuple[tuple[str, float], ...] = ()

  @property
  def name(self) -> str:
    """The canonical string; :func:`get` (:func:`schedule`) rebuilds an equal object from it."""
    return names.format_call(self.kind, kwargs=dict(self.params))


@dataclasses.dataclass(frozen=True)
class Optimizer(_Named):
  """An optimizer family with its constants.

  Attributes:
    kind: the registry entry, e.g. ``"adam"``.
    params: the constants as ``(name, value)`` pairs, in the factory's order.
    uses_momentum: whether the member's momentum is a hyperparameter of it.
    adaptive: whether it divides each coordinate's update by a running scale of its gradients
      (Adam, AdamW, RMSprop): the parametrizations then scale learning rates by their Adam
      exponents (Yang et al. 2021, Tensor Programs V, Table 3), else by their SGD ones.
  """

  uses_momentum: bool = False
  adaptive: bool = False

  def transform(self, lr: Any, momentum: Any) -> optax.GradientTransformation:
    """The optax transformation with ``lr`` (and ``momentum``) as injected hyperparameters:
    scalars for one member, or traced values; its state then carries them, so ``update`` reads
    each member's own."""
    constants = dict(self.params)
    if self.kind in ("sgd", "momentum", "nesterov"):
      if not self.uses_momentum:
        return optax.inject_hyperparams(optax.sgd)(learning_rate=lr)
      return optax.inject_hyperparams(optax.sgd, static_args=("nesterov",))(
          learning_rate=lr, momentum=momentum, nesterov=self.kind == "nesterov")
    # The constants stay Python floats (static), as in optax's own call: injected, they would be
    # rounded to float32 (Adam's 1 - b2^t then differs by 1e-5 at the first step).
    return optax.inject_hyperparams(getattr(optax, self.kind), static_args=tuple(constants))(
        learning_rate=lr, **constants)


def _positive(kind: str, **values: float) -> tuple[tuple[str, float], ...]:
  return tuple((k, names.check_number(k, kind, v, 0.0, strict=True)) for k, v in values.items())


def _unit(kind: str, name: str, value: float, closed: bool = False) -> tuple[str, float]:
  """``(name, float(value))`` for a number in [0, 1) (or [0, 1] if ``closed``), else ValueError."""
  v = names.check_number(name, kind, value, 0.0)
  if not (v <= 1 if closed else v < 1):
    raise ValueError(f"{kind}: {name} must be in [0, 1{']' if closed else ')'}; got {value}")
  return name, float(v)


def _betas(kind: str, b1: float, b2: float) -> tuple[tuple[str, float], ...]:
  return _unit(kind, "b1", b1), _unit(kind, "b2", b2)


def _adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
  return Optimizer("adam", _betas("adam", b1, b2) + _positive("adam", eps=eps), adaptive=True)


def _adamw(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
           weight_decay: float = 1e-4) -> Optimizer:
  decay = (("weight_decay", names.check_number("weight_decay", "adamw", weight_decay, 0.0)),)
  return Optimizer("adamw", _betas("adamw", b1, b2) + _positive("adamw", eps=eps) + decay,
                   adaptive=True)


def _rmsprop(decay: float = 0.9, eps: float = 1e-8) -> Optimizer:
  return Optimizer("rmsprop", (_unit("rmsprop", "decay", decay), *_positive("rmsprop", eps=eps)),
                   adaptive=True)


FACTORIES: dict[str, Callable[..., Optimizer]] = {
    "sgd": lambda: Optimizer("sgd"),
    "momentum": lambda: Optimizer("momentum", uses_momentum=True),
    "nesterov": lambda: Optimizer("nesterov", uses_momentum=True),
    "adam": _adam,
    "adamw": _adamw,
    "rmsprop": _rmsprop,
}

ALIASES: dict[str, str] = {"gd": "sgd", "heavy_ball": "momentum"}


def known() -> list[str]:
  """The registered optimizer names."""
  return sorted(FACTORIES)


def get(name: str | Optimizer) -> Optimizer:
  """The :class:`Optimizer` a string names.

  Raises:
    ValueError: an unknown name (the message lists the known ones) or a bad constant.

  >>> get("adam").name
  'adam(b1=0.9, b2=0.999, eps=1e-08)'
  >>> get("adam(b2=0.99)").name
  'adam(b1=0.9, b2=0.99, eps=1e-08)'
  """
  return names.lookup(name, Optimizer, FACTORIES, ALIASES, "optimizer")


@dataclasses.dataclass(frozen=True)
class Schedule(_Named):
  """A learning-rate multiplier as a function of the step, named like an optimizer.

  Attributes:
    kind: ``"constant"``, ``"cosine"``, ``"warmup_cosine"`` or ``"warmup_constant"`` (linear from 0
      over the first ``warmup`` fraction of the steps, then 1: Xiong et al. 2020's warmup).
    params: its constants as ``(name, value)`` pairs.
  """

  def multiplier(self, total_steps: int) -> Callable[[Any], Any]:
    """``step -> factor`` for a run of ``total_steps`` optimizer steps (step 0 is the first)."""
    p = dict(self.params)
    if self.kind == "cosine":
      return optax.cosine_decay_schedule(1.0, total_steps, alpha=p["alpha"])
    if self.kind == "warmup_cosine":
      warmup = max(1, round(p["warmup"] * total_steps))
      return optax.warmup_cosine_decay_schedule(0.0, 1.0, warmup, max(total_steps, warmup + 1),
                                                end_value=p["alpha"])
    if self.kind == "warmup_constant":
      return optax.linear_schedule(0.0, 1.0, max(1, round(p["warmup"] * total_steps)))
    return lambda step: 1.0


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "constant": lambda: Schedule("constant"),
    "cosine": lambda alpha=0.0: Schedule("cosine", (_unit("cosine", "alpha", alpha, closed=True),)),
    "warmup_cosine": lambda warmup=0.05, alpha=0.0: Schedule(
        "warmup_cosine", (_unit("warmup_cosine", "warmup", warmup, closed=True),
                          _unit("warmup_cosine", "alpha", alpha, closed=True))),
    "warmup_constant": lambda warmup=0.05: Schedule(
        "warmup_constant", (_unit("warmup_constant", "warmup", warmup, closed=True),)),
}


def schedule(name: str | Schedule) -> Schedule:
  """The :class:`Schedule` a string names.

  Raises:
    ValueError: an unknown name (the message lists the known ones) or a constant outside [0, 1].

  >>> schedule("warmup_cosine").name
  'warmup_cosine(warmup=0.05, alpha=0.0)'
  """
  return names.lookup(name, Schedule, SCHEDULES, {}, "schedule")
