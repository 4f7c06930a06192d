"""BatchNorm against initialization scale: how much of the sensitivity to the init does it remove?

Source: lecture notes "Optimization of deep networks" (sources/002): a poorly scaled initialization
(too small: activations shrink through depth; too large: saturation) hampers learning, and
BatchNorm, normalizing each hidden layer over the mini-batch, improves gradient flow. The notes show
no numbers; this measures the claim.

Setup: the MNIST MLP 784-128-64-10 (ReLU), every kernel ``he_normal`` times a scale in 0.01 .. 10
(7 points, log-spaced; biases zero), without and with BatchNorm after each hidden dense layer (two
sweeps: two compiled programs), 4 seeds per point, one epoch of SGD with momentum 0.9, lr 0.01, batch
128. Reported: test accuracy per scale x BatchNorm (mean, std, 95% CI over seeds), and the headline
range of the mean test accuracy across the scales with and without BatchNorm. A member whose loss
turns non-finite is marked diverged (counted in the table); in the headline range it counts at chance
(10%).

    JAXINIT_DATA_DIR=/work/shared/datasets python -m experiments.batchnorm_vs_initialization  # 75 s CPU
    python -m experiments.batchnorm_vs_initialization --tiny                                # seconds

``--tiny`` is two moons (no MNIST subset can be swept by name): MLP 2-16-16-1, 4 scales, 4 seeds,
10 epochs of batch 100 at lr 0.1. Rerunning reads finished sweeps back. Measured on the shared
2-core machine (load ~13): 75 s of CPU, 9 min wall.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.results import folders, records
from jaxinit.studies import gallery, sweep

NAME = "batchnorm_vs_initialization"
BN_LABELS = {False: "no", True: "yes"}
"""The table's ``batch_norm`` column."""


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything that decides the numbers.

  Attributes:
    data: the dataset (:func:`jaxinit.data.load`).
    widths: the dense layers' output widths, the last the logits.
    activation: the hidden nonlinearity.
    scheme: the initialization whose kernels are scaled.
    scales: the factors on every initial kernel (the population's scale axis).
    seeds: seeds per scale.
    epochs, batch_size, lr, momentum: the training (SGD with heavy-ball momentum).
    chance: the accuracy a diverged member counts at in the headline range.
  """

  data: str = "mnist"
  widths: tuple[int, ...] = (128, 64, 10)
  activation: str = "relu"
  scheme: str = "he_normal"
  scales: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
  seeds: tuple[int, ...] = (0, 1, 2, 3)
  epochs: int = 1
  batch_size: int = 128
  lr: float = 0.01
  momentum: float = 0.9
  chance: float = 0.1


TINY = Config(data="moons", widths=(16, 16, 1), scales=(0.01, 0.1, 1.0, 10.0), epochs=10,
              batch_size=100, lr=0.1, chance=0.5)


def sweep_config(cfg: Config, batch_norm: bool) -> sweep.SweepConfig:
  """The population of one arm: ``cfg.scales`` x ``cfg.seeds``, with or without BatchNorm."""
  return sweep.SweepConfig(
      data=cfg.data,
      model=models.ModelConfig(widths=cfg.widths, activation=cfg.activation, batch_norm=batch_norm),
      train=tr.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, eval_every=cfg.epochs),
      schemes=(cfg.scheme,), seeds=cfg.seeds, lrs=(cfg.lr,), momenta=(cfg.momentum,),
      scales=cfg.scales)


def accuracy_by_scale(rows: list[dict[str, Any]], scales: tuple[float, ...], seeds: tuple[int, ...],
                      chance: float) -> np.ndarray:
  """Final test accuracy per (scale, seed) from sweep records, a diverged member at ``chance``.

  Args:
    rows: one sweep's records (``records.jsonl``), any epochs; each member's last is taken.

  Returns:
    ``acc_KS (len(scales), len(seeds))``.
  """
  last: dict[int, dict[str, Any]] = {}
  for r in rows:
    if r["member"] not in last or r["epoch"] > last[r["member"]]["epoch"]:
      last[r["member"]] = r
  acc = np.full((len(scales), len(seeds)), np.nan)
  for r in last.values():
    value = r["test_acc"]
    ok = not r["diverged"] and value is not None and math.isfinite(value)
    acc[scales.index(r["scale"]), seeds.index(r["seed"])] = value if ok else chance
  return acc


def figure(cfg: Config, acc: dict[bool, np.ndarray], setting: str) -> Figure:
  """Mean test accuracy against the scale (log x), one line per arm, the band one std either side
  over seeds, the seeds as dots."""
  fig = Figure(figsize=(6.4, 4.2), layout="constrained")
  ax = fig.add_subplot()
  x = np.asarray(cfg.scales)
  for bn, acc_KS in acc.items():
    mean, std = 100 * acc_KS.mean(axis=1), 100 * acc_KS.std(axis=1, ddof=1)
    color = "C1" if bn else "C0"
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, lw=0)
    ax.plot(x, mean, "-o", color=color, label=f"{'with' if bn else 'without'} BatchNorm", ms=4)
    ax.plot(np.repeat(x, acc_KS.shape[1]), 100 * acc_KS.ravel(), ".", color=color, alpha=0.5, ms=3)
  ax.set_xscale("log")
  ax.set_xlabel(f"initial kernel scale (x {cfg.scheme})")
  ax.set_ylabel("test accuracy (%)")
  ax.set_title(setting, fontsize=10)
  ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=2)
  return fig


def main(argv: list[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  cfg = out.config
  acc, table, sources = {}, [], {}
  for bn in (False, True):
    result = out.sweep(f"batch_norm_{BN_LABELS[bn]}", sweep_config(cfg, bn), quiet=True,
                       figures=False)
    sources[BN_LABELS[bn]] = result.record.get("data_source")
    rows = records.read_records(folders.RunFolder(result.folder).records)
    acc[bn] = accuracy_by_scale(rows, cfg.scales, cfg.seeds, cfg.chance)
    table += [{"batch_norm": BN_LABELS[bn], **row} for row in result.table]
  widths = "-".join(map(str, cfg.widths))
  setting = (f"{cfg.data}, MLP widths {widths}, {cfg.activation}, {cfg.scheme} x scale, {cfg.epochs} "
             f"epoch(s), SGD momentum {cfg.momentum}, lr {cfg.lr}, batch {cfg.batch_size}")
  out.table(table, "accuracy", by=("batch_norm", "scale"),
            metrics=("test_acc", "train_acc", "train_loss"),
            setting=f"Trained on {cfg.data} ({sources['no']}). {setting}.")
  out.figure(figure(cfg, acc, setting), "accuracy_vs_scale",
             f"Test accuracy after training from {cfg.scheme} kernels times the scale, without and "
             f"with BatchNorm: lines are the mean over {len(cfg.seeds)} seeds, the bands one sample "
             "std either side, dots the seeds (a diverged seed drawn at chance, "
             f"{100 * cfg.chance:g}%). Data: {sources['no']}.")
  means = {bn: a.mean(axis=1) for bn, a in acc.items()}
  spread = {bn: float(np.max(m) - np.min(m)) for bn, m in means.items()}
  diverged = {BN_LABELS[bn]: sum(r["n_diverged"] for r in table if r["batch_norm"] == BN_LABELS[bn])
              for bn in (False, True)}
  out.summary({
      "data": cfg.data, "data_source": sources,
      "test_acc_range_without_bn": spread[False], "test_acc_range_with_bn": spread[True],
      "range_ratio_without_over_with": spread[False] / spread[True] if spread[True] else math.inf,
      "mean_test_acc_by_scale": {BN_LABELS[bn]: dict(zip(map(str, cfg.scales), m.tolist(), strict=True))
                                 for bn, m in means.items()},
      "worst_scale": {BN_LABELS[bn]: cfg.scales[int(np.argmin(m))] for bn, m in means.items()},
      "diverged_members": diverged,
  })
  return 0


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
