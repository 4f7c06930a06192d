"""Optimizers by name (jaxinit.engine.optimizers): names, the optax updates they stand for, and
populations trained with them equal to their members trained one by one."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxinit import cli, data
from jaxinit.engine import optimizers
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import models

MOONS = tr.device_data(data.moons(0))
MLP = models.ModelConfig()

CANONICAL = {
    "sgd": "sgd", "momentum": "momentum", "nesterov": "nesterov",
    "adam": "adam(b1=0.9, b2=0.999, eps=1e-08)",
    "adamw": "adamw(b1=0.9, b2=0.999, eps=1e-08, weight_decay=0.0001)",
    "rmsprop": "rmsprop(decay=0.9, eps=1e-08)",
}


@pytest.mark.parametrize("name", optimizers.known())
def test_names_round_trip(name: str) -> None:
  opt = optimizers.get(name)
  assert opt.name == CANONICAL[name]
  assert optimizers.get(opt.name) == opt
  assert tr.TrainConfig(optimizer=name).optimizer == CANONICAL[name]


def test_constants_are_part_of_the_name_and_bad_ones_are_refused() -> None:
  assert optimizers.get("adam(b2=0.99)").name == "adam(b1=0.9, b2=0.99, eps=1e-08)"
  assert optimizers.get("heavy_ball") == optimizers.get("momentum")
  with pytest.raises(ValueError, match=r"unknown optimizer 'adagrad'; known: adam, adamw, momentum"):
    optimizers.get("adagrad")
  with pytest.raises(ValueError, match=r"b1 must be in \[0, 1\); got 1.5"):
    optimizers.get("adam(b1=1.5)")
  with pytest.raises(ValueError, match=r"bad parameters in optimizer 'sgd\(momentum=0.9\)'"):
    optimizers.get("sgd(momentum=0.9)")
  with pytest.raises(ValueError, match="unknown optimizer"):
    tr.TrainConfig(optimizer="sgd_plus")


OPTAX = {  # what each name stands for, at lr 0.03 and momentum 0.7
    "sgd": optax.sgd(0.03),
    "momentum": optax.sgd(0.03, momentum=0.7),
    "nesterov": optax.sgd(0.03, momentum=0.7, nesterov=True),
    "adam": optax.adam(0.03, b1=0.8, b2=0.99, eps=1e-6),
    "adamw": optax.adamw(0.03, weight_decay=0.1),
    "rmsprop": optax.rmsprop(0.03, decay=0.5),
}
NAMED = {"sgd": "sgd", "momentum": "momentum", "nesterov": "nesterov",
         "adam": "adam(b1=0.8, b2=0.99, eps=1e-6)", "adamw": "adamw(weight_decay=0.1)",
         "rmsprop": "rmsprop(decay=0.5)"}


@pytest.mark.parametrize("kind", sorted(OPTAX))
def test_each_name_makes_the_optax_update_it_stands_for(kind: str) -> None:
  """Three steps on a small tree: the named optimizer (lr, momentum injected as data) and optax's
  own give the same updates to float32 rounding."""
  params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.array([0.5, -0.2])}
  ours = optimizers.get(NAMED[kind]).transform(jnp.float32(0.03), jnp.float32(0.7))
  theirs = OPTAX[kind]
  s_ours, s_theirs = ours.init(params), theirs.init(params)
  for step in range(3):
    grads = jax.tree.map(lambda p, s=step: jnp.sin(p * (s + 1.0)) + 0.1 * s, params)
    u_ours, s_ours = ours.update(grads, s_ours, params)
    u_theirs, s_theirs = theirs.update(grads, s_theirs, params)
    for a, b in zip(jax.tree.leaves(u_ours), jax.tree.leaves(u_theirs), strict=True):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def _population_equals_members_alone(optimizer: str, members: list[pop.Member]) -> None:
  """The members trained together (2 epochs, minibatches of 40) and each alone agree to 1e-5."""
  cfg = tr.TrainConfig(epochs=2, batch_size=40, optimizer=optimizer)
  *_, (_, state, metrics) = tr.run(MLP, cfg, members, MOONS)
  for k, member in enumerate(members):
    alone, alone_metrics = tr.train_one(MLP, cfg, member, MOONS)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(alone.params), strict=True):
      np.testing.assert_allclose(np.asarray(a)[k], b, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.asarray(metrics)[k], alone_metrics[-1], atol=1e-5, rtol=0)


@pytest.mark.slow  # ~15 s of compiles; the mechanism (injected lr) is test_train's no-recompile test
@pytest.mark.parametrize("kind", optimizers.known())
def test_an_optimizer_is_adaptive_when_its_first_step_ignores_the_gradient_scale(kind: str) -> None:
  """``adaptive`` (which picks a parametrization's Adam exponents) must say what the update does:
  an Adam-like first step is the same for gradients 1000x apart, an SGD-like one is 1000x larger."""
  tx = optimizers.get(kind).transform(0.1, 0.9)
  params = jnp.zeros(3)
  g = jnp.asarray([0.5, -1.0, 2.0])
  small, _ = tx.update(g, tx.init(params), params)
  large, _ = tx.update(1000 * g, tx.init(params), params)
  invariant = np.allclose(np.asarray(large), np.asarray(small), rtol=1e-3)
  assert optimizers.get(kind).adaptive == invariant


def test_adam_lr_x_seeds_is_one_program_and_equals_members_alone(compilations) -> None:
  """A second Adam population with other learning rates and seeds compiles nothing; one of its
  members trained alone gives the same parameters and metrics (three members, every optimizer:
  the slow test below)."""
  cfg = tr.TrainConfig(epochs=2, batch_size=40, optimizer="adam")
  list(tr.run(MLP, cfg, pop.grid(["he_normal"], [0, 1], lrs=(1e-3, 3e-4)), MOONS))
  members = list(pop.grid(["he_normal"], [5, 6], lrs=(1e-2, 3e-3)))
  with compilations() as log:
    *_, (_, _, metrics) = tr.run(MLP, cfg, members, MOONS)
  assert log == [] and np.all(np.isfinite(np.asarray(metrics)))
  _population_equals_members_alone("adam", members[1:2])


@pytest.mark.slow
@pytest.mark.parametrize("name", optimizers.known())
def test_every_optimizer_population_equals_members_alone(name: str) -> None:
  """Three members (different schemes, seeds, lrs, momenta) with each optimizer."""
  _population_equals_members_alone(name, [
      pop.Member("he_normal", 0, 0.01), pop.Member("glorot_uniform", 3, 0.003, 0.5),
      pop.Member("he_normal", 1, 0.03, 0.0)])


def test_cli_optimizer_flag_reaches_the_run_config() -> None:
  args = cli.flags.parser().parse_args(["sweep", "--optimizer", "adam(b2=0.99)", "--lr", "1e-3,3e-4"])
  config = cli._sweep_config(args)
  assert config.train.optimizer == "adam(b1=0.9, b2=0.99, eps=1e-08)"
  assert config.lrs == (1e-3, 3e-4)
  assert dataclasses.asdict(config)["train"]["optimizer"] == config.train.optimizer


def test_schedules_by_name_are_optax_schedules_at_peak_one() -> None:
  assert optimizers.schedule("cosine").name == "cosine(alpha=0.0)"
  assert optimizers.schedule("warmup_cosine(warmup=0.1)").name == "warmup_cosine(warmup=0.1, alpha=0.0)"
  assert tr.TrainConfig(schedule="cosine(alpha=0.1)").schedule == "cosine(alpha=0.1)"
  steps = np.arange(0, 101, 7)
  np.testing.assert_allclose(
      optimizers.schedule("cosine(alpha=0.1)").multiplier(100)(steps),
      optax.cosine_decay_schedule(1.0, 100, alpha=0.1)(steps), rtol=1e-6)
  np.testing.assert_allclose(
      optimizers.schedule("warmup_cosine(warmup=0.1)").multiplier(100)(steps),
      optax.warmup_cosine_decay_schedule(0.0, 1.0, 10, 100)(steps), rtol=1e-6)
  assert optimizers.schedule("constant").multiplier(100)(5) == 1.0
  with pytest.raises(ValueError, match=r"unknown schedule 'linear'; known: constant, cosine"):
    optimizers.schedule("linear")
  with pytest.raises(ValueError, match=r"warmup must be in \[0, 1\]; got 2"):
    optimizers.schedule("warmup_cosine(warmup=2)")
