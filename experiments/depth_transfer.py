"""Depth transfer in residual networks: which residual initializations train deep, and whose best
learning rate stays put as blocks are added?

Sources: Yang et al. 2023, "Tensor Programs VI: Feature Learning in Infinite-Depth Neural Networks"
and Bordelon et al. 2023, "Depthwise Hyperparameter Transfer in Residual Networks": a
``1/sqrt(depth)`` multiplier on every residual branch keeps the stream's scale, and for one-layer
branches the best learning rate, fixed as the depth grows; Tensor Programs VI finds the transfer
imperfect for branches of two or more layers, which these are, so whether it holds here is the
question. Zhang, Dauphin & Ma 2019 ("Fixup Initialization") and De & Smith
2020 (SkipInit) train deep residual networks without normalization by starting every branch at
zero; BatchNorm is the normalized baseline.

Setup: a residual MLP (:class:`jaxinit.nets.models.ResMLP`: input projection, ``L`` pre-activation
blocks of two dense layers, readout; ReLU, width 64) with L = 2, 4, 8, 16, 32 blocks (6 to 66 dense
layers), on the first 10,240 MNIST training images (standard inputs), one epoch of plain SGD with
batch 128 (80 steps), learning rates 2^-7 .. 2^1 (factor 2), 3 seeds. Five arms:

* ``standard``: ``he_normal``, branch multiplier 1;
* ``1/sqrt(L)``: ``he_normal``, branch multiplier ``1/sqrt(L)`` (depth-muP's);
* ``skipinit``: every branch's learned gate starts at 0;
* ``fixup``: readout and every branch's last layer 0, first layers times ``L^-1/2``;
* ``batchnorm``: ``he_normal``, multiplier 1, BatchNorm before every nonlinearity.

The standard, SkipInit and Fixup arms share one compiled program per depth (the schemes are data).
Reported: the final training loss per (arm, L, lr) (mean, std and 95% CI over seeds), each arm's best
learning rate per depth and its shift from L = 2's, and the stream's growth at initialization
against the theory in :class:`jaxinit.nets.models.ResMLP`'s docstring.

    JAXINIT_DATA_DIR=/work/shared/datasets python -m experiments.depth_transfer  # ~20 min, 2 CPU cores
    python -m experiments.depth_transfer --tiny                                    # seconds, moons
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from jaxinit import data, schemes
from jaxinit.engine import population
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.results import plots, tables
from jaxinit.studies import gallery, sweep, width_sweep

NAME = "depth_transfer"


@dataclasses.dataclass(frozen=True)
class Arm:
  """One way to make a deep residual network trainable."""

  name: str
  scheme: str
  branch_multiplier: str = "1"
  batch_norm: bool = False


ARMS = (Arm("standard", "he_normal"), Arm("1/sqrt(L)", "he_normal", "1/sqrt(depth)"),
        Arm("skipinit", "skipinit(base=he_normal)"), Arm("fixup", "fixup(base=he_normal)"),
        Arm("batchnorm", "he_normal", batch_norm=True))


@dataclasses.dataclass(frozen=True)
class Config:
  """The study.

  Attributes:
    data: the dataset (:func:`jaxinit.data.load`).
    width: the residual stream's width.
    blocks: the depths, in residual blocks ``L``; the first is the base depth.
    lr_exponents: the learning rates' base-2 exponents, ``(first, last)`` inclusive.
    seeds: seeds per cell.
    epochs, batch_size, optimizer: the training.
    arms: the names of the :data:`ARMS` run.
  """

  data: str = "mnist(n_train=10240, n_test=2048)"
  width: int = 64
  blocks: tuple[int, ...] = (2, 4, 8, 16, 32)
  lr_exponents: tuple[int, int] = (-7, 1)
  seeds: int = 3
  epochs: int = 1
  batch_size: int = 128
  optimizer: str = "sgd"
  arms: tuple[str, ...] = tuple(a.name for a in ARMS)


TINY = Config(data="moons", width=8, blocks=(1, 4), lr_exponents=(-4, -1), seeds=2, epochs=10,
              batch_size=100)


def model(cfg: Config, blocks: int, arm: Arm) -> models.ModelConfig:
  readout = data.num_outputs(cfg.data)
  return models.ModelConfig(kind="resmlp", widths=(cfg.width,) * (1 + 2 * blocks) + (readout,),
                            branch_multiplier=arm.branch_multiplier, batch_norm=arm.batch_norm)


def programs(cfg: Config) -> list[tuple[str, tuple[Arm, ...]]]:
  """The arms grouped by compiled program: those that differ only in their scheme train together."""
  groups: dict[tuple[str, bool], list[Arm]] = {}
  for arm in ARMS:
    if arm.name in cfg.arms:
      groups.setdefault((arm.branch_multiplier, arm.batch_norm), []).append(arm)
  return [("+".join(a.name for a in arms).replace("/", "_"), tuple(arms))
          for arms in groups.values()]


def sweep_config(cfg: Config, blocks: int, arms: tuple[Arm, ...]) -> sweep.SweepConfig:
  first, last = cfg.lr_exponents
  return sweep.SweepConfig(
      data=cfg.data, model=model(cfg, blocks, arms[0]),
      train=tr.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer=cfg.optimizer,
                           eval_every=cfg.epochs),
      schemes=tuple(a.scheme for a in arms), seeds=tuple(range(cfg.seeds)),
      lrs=tuple(2.0 ** k for k in range(first, last + 1)))


def stream_growth(cfg: Config, blocks: int, arm: Arm, x: np.ndarray) -> tuple[float, float]:
  """``(E[h_L^2] / E[h_0^2], E[h_0^2])`` at initialization on the batch ``x``, each averaged over
  the seeds; BatchNorm normalizes with the batch's statistics, as in training."""
  m = model(cfg, blocks, arm)
  members = [population.Member(arm.scheme, s) for s in range(cfg.seeds)]
  variables = population.init_params(m, members, x.shape[1:])
  net = models.build(m)

  def one(v: Any) -> tuple[Any, Any]:
    _, state = net.apply(v, x, train=True, mutable=["intermediates", "batch_stats"])
    sown = state["intermediates"]
    q0 = jax.numpy.mean(sown["resid_0"][0] ** 2)
    return jax.numpy.mean(sown[f"resid_{blocks}"][0] ** 2) / q0, q0

  growth, q0 = jax.vmap(one)(variables)
  return float(np.mean(growth)), float(np.mean(q0))


def theory_growth(blocks: int, arm: Arm, q0: float) -> float:
  """The infinite-width ``q_L / q_0`` (:class:`jaxinit.nets.models.ResMLP`): ``(1 + beta^2)^L`` for He
  kernels without normalization, 1 for SkipInit and Fixup, ``1 + beta^2 L / q_0`` with BatchNorm
  (the branch sees a normalized input, so it adds ``beta^2`` per block)."""
  beta2 = 1.0 / blocks if arm.branch_multiplier != "1" else 1.0
  if arm.batch_norm:
    return 1.0 + beta2 * blocks / q0
  if arm.name in ("skipinit", "fixup"):
    return 1.0
  return (1.0 + beta2) ** blocks


def figure(rows: list[dict[str, Any]], cfg: Config) -> Figure:
  """One panel per arm: the final training loss against the learning rate, a curve per depth;
  the last panel: each arm's best learning rate against depth."""
  arms = [a for a in ARMS if a.name in cfg.arms]
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(4.2 * 3, 3.4 * math.ceil((len(arms) + 1) / 3)), layout="constrained")
    axes = fig.subplots(math.ceil((len(arms) + 1) / 3), 3, squeeze=False).ravel()
    best = {}
    for ax, arm in zip(axes, arms, strict=False):
      mine = [{**r, "width": r["blocks"]} for r in rows if r["arm"] == arm.name]
      best[arm.name] = plots.lr_curves(ax, mine, "train_loss")
      ax.set_title(arm.name)
      for line in ax.containers:
        line.set_label(line.get_label().replace("width", "L ="))
    axes[0].legend(fontsize=8)
    ax = axes[len(arms)]
    for j, (name, by_depth) in enumerate(best.items()):
      ax.plot(list(by_depth), list(by_depth.values()), "o-", ms=4, color=f"C{j}", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("residual blocks L")
    ax.set_ylabel("best learning rate")
    ax.legend(fontsize=8, loc="lower left")
    for extra in axes[len(arms) + 1:]:
      extra.set_visible(False)
  return fig


def main(argv: list[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  cfg = out.config
  rows: list[dict[str, Any]] = []
  source = None
  for blocks in cfg.blocks:
    for stage, arms in programs(cfg):
      result = out.sweep(f"{stage}-L{blocks}", sweep_config(cfg, blocks, arms), quiet=True,
                         figures=False)
      source = source or result.record.get("data_source")
      by_scheme = {schemes.get(a.scheme).name: a for a in arms}
      for row in result.table:
        arm = by_scheme[row["scheme"]]
        rows.append({"arm": arm.name, "blocks": blocks, "layers": 2 + 2 * blocks, **row})
  setting = (f"{cfg.data} ({source}); residual MLP of width {cfg.width}, ReLU, {cfg.epochs} "
             f"epoch(s) of {cfg.optimizer} with batch {cfg.batch_size}; {cfg.seeds} seeds per cell.")
  out.table(rows, "loss_by_lr", by=("arm", "blocks", "lr"), metrics=("train_loss", "test_acc"),
            setting=setting)
  optimal = width_sweep.optimal_lr(rows, by=("arm", "blocks"))
  width_sweep.add_shift(optimal, ("arm", "blocks"), "blocks", cfg.blocks[0])
  growth = out.cached("stream_growth", {"config": dataclasses.asdict(cfg), "batch_norm": "train"},
                      lambda: {f"{a.name}-L{b}": np.asarray(stream_growth(
                          cfg, b, a, data.load(cfg.data).x_train[:256]))
                          for a in ARMS if a.name in cfg.arms for b in cfg.blocks})
  body = []
  for row in optimal:
    arm = next(a for a in ARMS if a.name == row["arm"])
    row["growth"], q0 = (float(v) for v in growth[f"{arm.name}-L{row['blocks']}"])
    row["growth_theory"] = theory_growth(row["blocks"], arm, q0)
    body.append([row["arm"], str(row["blocks"]), f"{row['lr']:.3g}" if math.isfinite(row["lr"])
                 else "all diverged", f"{row['train_loss_mean']:.4f}", f"{row['shift']:+.0f}",
                 f"{row['growth']:.3g}", f"{row['growth_theory']:.3g}"])
  caption = ("Per arm and depth: the learning rate of the lowest mean final training loss, that "
             f"loss, its shift from L = {cfg.blocks[0]}'s best in factors of 2, and the residual "
             "stream's growth at initialization E[h_L^2] / E[h_0^2] (measured on 256 training "
             "inputs, mean over seeds, BatchNorm with the batch's statistics; theory at infinite "
             "width). " + setting)
  (out.folder / "optimal_lr.md").write_text(tables.markdown(
      ["arm", "L", "best lr", "train loss", "shift", "stream growth", "theory"], body, caption,
      left=2))
  out.figure(figure(rows, cfg), "depth_transfer",
             "Final training loss against the learning rate, one curve per depth L (dark: shallow, "
             "light: deep; bars the 95% CI over seeds, stars each depth's best); last panel: each "
             "arm's best learning rate against depth (missing where every rate diverged). "
             + setting)
  out.summary({"optimal_lr": {f"{r['arm']}/L{r['blocks']}": {
      "best_lr": r["lr"], "train_loss": r["train_loss_mean"], "log2_shift": r["shift"],
      "stream_growth": r["growth"], "stream_growth_theory": r["growth_theory"]} for r in optimal}})
  print((out.folder / "optimal_lr.md").read_text(), end="")
  return 0


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
