"""muP learning-rate transfer: does the best learning rate stay put as the network widens?

Source: Yang et al. 2022, "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot
Hyperparameter Transfer", Fig. 1 and Fig. 3 (MLPs): under the standard parametrization (SP) the
learning rate of the lowest training loss moves with width; under muP it stays, so a learning rate
tuned on a narrow network transfers to a wide one.

Setup: a ReLU MLP with three hidden layers of width 64, 128, 256, 512 and 1024 on the first 10,240
MNIST training images (standard inputs), ``he_normal`` kernels, zero biases, one epoch of batch 128
(80 steps), under SP and ``mup(base_width=64)`` (:mod:`jaxinit.nets.parametrizations`; at width 64 both
are the same network), with Adam over learning rates 2^-14 .. 2^-3 and plain SGD over 2^-9 .. 2^-1
(factor-2 grids), 4 seeds each. One sweep (one compiled program: learning rates x seeds) per
(optimizer, parametrization, width). The loss is the mean training cross-entropy on those 10,240
images after the epoch; test accuracy is on the first 2,048 test images.

Writes ``loss_by_lr.{md,tex,csv}`` (every cell: mean, std and 95% CI over seeds),
``optimal_lr.{md,csv}`` (per optimizer, parametrization and width: the best learning rate, its
loss, and how far it moved from the base width's in factors of 2), ``lr_transfer.{png,pdf}`` and
``summary.json``.

    JAXINIT_DATA_DIR=/work/shared/datasets python -m experiments.mup_transfer  # ~25 min on 2 CPU cores
    python -m experiments.mup_transfer --tiny                                    # seconds, moons

A GPU takes the widths to 8192 with ``Config(widths=(64, ..., 8192))``. Interrupted? Rerun: finished
sweeps are read back, one cut short resumes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure

from jaxinit import data
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.results import plots, tables
from jaxinit.studies import gallery, sweep, width_sweep

NAME = "mup_transfer"


@dataclasses.dataclass(frozen=True)
class Config:
  """The study.

  Attributes:
    data: the dataset (:func:`jaxinit.data.load`): here the MNIST subset.
    hidden_layers: the MLP's hidden layers, all of one width.
    widths: the hidden widths; the first is muP's base width.
    parametrizations: the parametrizations compared; ``{base}`` is the first width.
    lr_exponents: per optimizer, the learning rates' base-2 exponents (``(first, last)``,
      inclusive).
    seeds: seeds per cell.
    epochs, batch_size: the training.
    scheme: the initialization (the SP draw).
  """

  data: str = "mnist(n_train=10240, n_test=2048)"
  hidden_layers: int = 3
  widths: tuple[int, ...] = (64, 128, 256, 512, 1024)
  parametrizations: tuple[str, ...] = ("sp", "mup(base_width={base})")
  lr_exponents: tuple[tuple[str, int, int], ...] = (("adam", -14, -3), ("sgd", -9, -1))
  seeds: int = 4
  epochs: int = 1
  batch_size: int = 128
  scheme: str = "he_normal"


TINY = Config(data="moons", hidden_layers=2, widths=(16, 64), lr_exponents=(("adam", -8, -4),),
              seeds=2, epochs=10, batch_size=100)


def sweep_config(cfg: Config, optimizer: str, parametrization: str, lrs: tuple[float, ...]
                 ) -> sweep.SweepConfig:
  """The sweep at the base width; :func:`jaxinit.studies.width_sweep.configs` sets the others."""
  base = cfg.widths[0]
  model = models.ModelConfig(widths=(base,) * cfg.hidden_layers + (data.num_outputs(cfg.data),),
                             parametrization=parametrization.format(base=base))
  return sweep.SweepConfig(
      data=cfg.data, model=model,
      train=tr.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer=optimizer,
                           eval_every=cfg.epochs),
      schemes=(cfg.scheme,), seeds=tuple(range(cfg.seeds)), lrs=lrs)


def learning_rates(first: int, last: int) -> tuple[float, ...]:
  """``2^first .. 2^last``, factor-2 steps."""
  return tuple(2.0 ** k for k in range(first, last + 1))


LABELS = {"sp": "SP", "ntk": "NTK", "mup": "muP", "mean_field": "MF"}


def label(parametrization: str) -> str:
  """The short name of a parametrization (``"mup(base_width={base})"`` -> ``"muP"``)."""
  return LABELS[parametrization.split("(")[0]]


def figure(rows: list[dict[str, Any]], cfg: Config) -> Figure:
  """Per optimizer (row): the final training loss against the learning rate under each
  parametrization, and the best learning rate against width under each."""
  optimizers = [o for o, _, _ in cfg.lr_exponents]
  cols = len(cfg.parametrizations) + 1
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(4.5 * cols, 3.6 * len(optimizers)), layout="constrained")
    axes = fig.subplots(len(optimizers), cols, squeeze=False)
    for r, opt in enumerate(optimizers):
      best = {}
      for c, p in enumerate(cfg.parametrizations):
        ax = axes[r, c]
        best[p] = plots.lr_curves(ax, [x for x in rows if x["optimizer"] == opt
                                       and x["parametrization_key"] == p], "train_loss")
        ax.set_title(f"{label(p)}, {opt}")
      ax = axes[r, -1]
      for j, (p, by_width) in enumerate(best.items()):
        ax.plot(list(by_width), list(by_width.values()), "o-" if j == 0 else "s--", ms=5,
                color=f"C{3 * j}", label=label(p))
      ax.set_xscale("log", base=2)
      ax.set_yscale("log", base=2)
      ax.set_xlabel("width")
      ax.set_ylabel("best learning rate")
      ax.set_title(f"best learning rate, {opt}")
      ax.legend()
      axes[r, -2].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
  return fig


def main(argv: list[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  cfg = out.config
  rows: list[dict[str, Any]] = []
  source = None
  for opt, first, last in cfg.lr_exponents:
    lrs = learning_rates(first, last)
    for p in cfg.parametrizations:
      for config in width_sweep.configs(sweep_config(cfg, opt, p, lrs), cfg.widths):
        width = config.model.widths[0]
        result = out.sweep(f"{opt}-{label(p)}-width{width}", config, quiet=True, figures=False)
        source = source or result.record.get("data_source")
        rows += [{"optimizer": opt, "parametrization": label(p), "parametrization_key": p,
                  "width": width, **row} for row in result.table]
  setting = (f"{cfg.data} ({source}); MLP with {cfg.hidden_layers} hidden ReLU layers, "
             f"{cfg.scheme}, {cfg.epochs} epoch(s) of batch {cfg.batch_size}; muP's base width "
             f"{cfg.widths[0]}; {cfg.seeds} seeds per cell.")
  out.table([{k: v for k, v in r.items() if k != "parametrization_key"} for r in rows], "loss_by_lr",
            by=("optimizer", "parametrization", "width", "lr"),
            metrics=("train_loss", "test_acc"), setting=setting)
  by = ("optimizer", "parametrization", "width")
  optimal = width_sweep.optimal_lr(rows, by=by)
  width_sweep.add_shift(optimal, by, "width", cfg.widths[0])
  body = [[r["optimizer"], r["parametrization"], str(r["width"]), f"{r['lr']:.3g}",
           f"2^{math.log2(r['lr']):+.0f}" if math.isfinite(r["lr"]) else "n/a",
           f"{r['train_loss_mean']:.4f}", f"{r['shift']:+.0f}"] for r in optimal]
  caption = ("The learning rate of the lowest mean final training loss in each factor-2 grid, and "
             "its shift from the base width's optimum in factors of 2 (0: it transfers). " + setting)
  (out.folder / "optimal_lr.md").write_text(tables.markdown(
      ["optimizer", "parametrization", "width", "best lr", "log2", "train loss", "shift"], body,
      caption, left=3))
  (out.folder / "optimal_lr.csv").write_text(tables.to_csv(optimal))
  out.figure(figure(rows, cfg), "lr_transfer",
             "Final training loss against the learning rate, one curve per width (dark: narrow, "
             "light: wide; bars the 95% CI over seeds; stars each width's best), under SP and muP; "
             "right: the best learning rate against width. " + setting)
  headline = {f"{r['optimizer']}/{r['parametrization']}/width{r['width']}": {
      "best_lr": r["lr"], "train_loss": r["train_loss_mean"], "log2_shift": r["shift"]}
      for r in optimal}
  out.summary({"optimal_lr": headline})
  print((out.folder / "optimal_lr.md").read_text(), end="")
  return 0


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
