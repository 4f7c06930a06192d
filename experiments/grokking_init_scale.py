"""Grokking and the initialization scale: does a larger initial weight norm delay generalization?

Sources: Power et al. 2022, "Grokking: Generalization Beyond Overfitting on Small Algorithmic
Datasets" (modular arithmetic, test accuracy rising long after the train accuracy); Liu, Michaud &
Tegmark 2022, "Omnigrok: Grokking Beyond Algorithmic Data" (the weight norm at initialization
controls the delay: scaling every initial weight by alpha > 1 delays generalization, alpha < 1
shortens or removes the delay); Kumar et al. 2023, "Grokking as the transition from lazy to rich
training dynamics" (a large init is lazy, and weight decay slowly moves it to the rich regime).

Setup: a + b mod 97, every one of the 9,409 equations, a seeded half of them training
(:func:`jaxinit.data.modular`). An MLP over token embeddings
(:class:`jaxinit.nets.transformer.TokenMLP`: 32-dimensional embeddings of the three tokens ``a b
=``, one hidden ReLU layer of 128, a readout of 97), He normal kernels and zero biases, then every
kernel and the embedding multiplied by alpha in 0.25 .. 8 (factor-2 grid); AdamW (lr 3e-3, weight
decay 1.0), batches of 512 (9 steps per epoch) for 6,300 steps, 8 seeds per alpha, all 48 members in
one compiled program, evaluated every 90 steps. Per member: the first evaluated step at which the
training accuracy reaches 99% and the first at which the test accuracy does; the delay is their
difference.

Writes ``steps.{md,csv}`` (per alpha: the median step to 99% train and to 99% test accuracy over the
seeds that got there, how many did, and the initial weight norm), ``accuracy.{md,tex,csv}`` (the
final accuracies, mean ± std and 95% CI over seeds), ``curves.{png,pdf}``, ``steps.{png,pdf}``
and ``summary.json``.

    python -m experiments.grokking_init_scale          # ~20 min on 2 CPU cores
    python -m experiments.grokking_init_scale --tiny   # seconds, p = 23

Interrupted? Rerun: the sweep resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from jaxinit import data, results
from jaxinit.engine import train as tr
from jaxinit.nets import protocol
from jaxinit.results import plots, stats
from jaxinit.studies import gallery, sweep

NAME = "grokking_init_scale"
MODEL = "jaxinit.nets.transformer:TokenMLP"
THRESHOLD = 0.99


@dataclasses.dataclass(frozen=True)
class Config:
  """The study.

  Attributes:
    p, train_fraction: the task (:func:`jaxinit.data.modular`, addition).
    embed, width: the TokenMLP's embedding and hidden widths.
    scheme: the base initialization, before the scale.
    scales: the init scales alpha (every kernel and the embedding times alpha).
    seeds: seeds per alpha.
    lr, weight_decay, batch_size, epochs, eval_every: AdamW and the training length.
  """

  p: int = 97
  train_fraction: float = 0.5
  embed: int = 32
  width: int = 128
  scheme: str = "he_normal"
  scales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
  seeds: int = 8
  lr: float = 3e-3
  weight_decay: float = 1.0
  batch_size: int = 512
  epochs: int = 700
  eval_every: int = 10


TINY = Config(p=23, embed=16, width=64, scales=(0.5, 4.0), seeds=2, batch_size=64, epochs=150,
              eval_every=5, lr=1e-2)


def sweep_config(cfg: Config) -> sweep.SweepConfig:
  """The one sweep: scales x seeds."""
  name = f"modular(p={cfg.p}, op=add, train_fraction={cfg.train_fraction})"
  spec = protocol.Spec(MODEL, json.dumps({"vocab": data.vocabulary(name), "embed": cfg.embed,
                                          "width": cfg.width, "outputs": cfg.p}))
  return sweep.SweepConfig(
      data=name, model=spec,
      train=tr.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size,
                           optimizer=f"adamw(weight_decay={cfg.weight_decay})",
                           eval_every=cfg.eval_every),
      schemes=(cfg.scheme,), seeds=tuple(range(cfg.seeds)), lrs=(cfg.lr,), scales=cfg.scales)


def first_step(records: list[dict[str, Any]], metric: str, steps_per_epoch: int) -> float:
  """The first evaluated step at which ``metric`` reaches :data:`THRESHOLD`; inf if it never does."""
  for r in sorted(records, key=lambda r: r["epoch"]):
    if r[metric] >= THRESHOLD:
      return float(r["epoch"] * steps_per_epoch)
  return math.inf


def member_rows(records: list[dict[str, Any]], steps_per_epoch: int) -> list[dict[str, Any]]:
  """Per member: its scale, seed, the steps to 99% train and test accuracy, the final metrics."""
  by_member: dict[int, list[dict[str, Any]]] = {}
  for r in records:
    by_member.setdefault(r["member"], []).append(r)
  rows = []
  for member, recs in sorted(by_member.items()):
    last = max(recs, key=lambda r: r["epoch"])
    rows.append({"member": member, "scale": last["scale"], "seed": last["seed"],
                 "epoch": last["epoch"], "diverged": last["diverged"],
                 "steps_train": first_step(recs, "train_acc", steps_per_epoch),
                 "steps_test": first_step(recs, "test_acc", steps_per_epoch),
                 **{m: last[m] for m in ("train_acc", "test_acc", "train_loss", "test_loss")}})
  return rows


def step_table(rows: list[dict[str, Any]], cfg: Config, norms: dict[float, float]
               ) -> list[dict[str, Any]]:
  """Per scale: how many members reached 99% train / test accuracy and the median steps (over those
  that did; with the interquartile range), and the median delay."""
  out = []
  for scale in cfg.scales:
    cell = [r for r in rows if r["scale"] == scale]
    row: dict[str, Any] = {"scale": scale, "n": len(cell), "init_norm": norms[scale]}
    for key in ("steps_train", "steps_test"):
      got = np.array([r[key] for r in cell if math.isfinite(r[key])])
      row[f"{key}_reached"] = int(got.size)
      row[f"{key}_median"] = float(np.median(got)) if got.size else math.nan
      row[f"{key}_q25"], row[f"{key}_q75"] = (
          (float(np.percentile(got, 25)), float(np.percentile(got, 75))) if got.size
          else (math.nan, math.nan))
    delay = np.array([r["steps_test"] - r["steps_train"] for r in cell
                      if math.isfinite(r["steps_test"])])
    row["delay_median"] = float(np.median(delay)) if delay.size else math.nan
    out.append(row)
  return out


def _steps_text(row: dict[str, Any], key: str, n: int) -> str:
  if not row[f"{key}_reached"]:
    return "not reached"
  return (f"{row[f'{key}_median']:.0f} [{row[f'{key}_q25']:.0f}, {row[f'{key}_q75']:.0f}] "
          f"({row[f'{key}_reached']}/{n})")


def curves_figure(records: list[dict[str, Any]], cfg: Config, steps_per_epoch: int) -> Figure:
  """Train (dashed) and test (solid) accuracy against steps, one colour per alpha (median over
  seeds, band the interquartile range)."""
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    cmap = mpl.colormaps["viridis"]
    for i, scale in enumerate(cfg.scales):
      color = cmap(i / max(len(cfg.scales) - 1, 1))
      cell = [r for r in records if r["scale"] == scale]
      epochs = sorted({r["epoch"] for r in cell})
      steps = np.array(epochs) * steps_per_epoch
      for metric, style in (("train_acc", "--"), ("test_acc", "-")):
        acc = 100 * np.array([[r[metric] for r in cell if r["epoch"] == e] for e in epochs])
        ax.plot(steps, np.median(acc, 1), style, color=color, lw=1.4,
                label=f"alpha = {scale:g}" if metric == "test_acc" else None)
        ax.fill_between(steps, np.percentile(acc, 25, 1), np.percentile(acc, 75, 1), color=color,
                        alpha=0.12, lw=0)
    ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
  return fig


def steps_figure(rows: list[dict[str, Any]], cfg: Config) -> Figure:
  """Steps to 99% train and test accuracy against alpha: one point per member (members that never
  got there drawn at the top, as open markers at the budget)."""
  budget = cfg.epochs * steps_per_epoch(cfg)
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    for j, (key, label) in enumerate((("steps_train", "99% train"), ("steps_test", "99% test"))):
      for scale in cfg.scales:
        cell = [r[key] for r in rows if r["scale"] == scale]
        jitter = scale * 2 ** (0.12 * (j - 0.5) + 0.04 * rng.standard_normal(len(cell)))
        reached = np.isfinite(cell)
        ax.plot(jitter[reached], np.array(cell)[reached], "o", color=f"C{j}", ms=4, alpha=0.7,
                label=label if scale == cfg.scales[0] else None)
        ax.plot(jitter[~reached], np.full((~reached).sum(), budget), "o", mfc="none",
                color=f"C{j}", ms=5)
    ax.axhline(budget, color="0.6", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("init scale alpha")
    ax.set_ylabel("steps")
    ax.legend(fontsize=8)
  return fig


def steps_per_epoch(cfg: Config) -> int:
  """Optimizer steps per epoch: the full batches of the train split (the engine drops the rest)."""
  return int(cfg.train_fraction * cfg.p * cfg.p) // cfg.batch_size


def main(argv: list[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  if out.finished():
    return 0
  cfg = out.config
  result = out.sweep("sweep", sweep_config(cfg), quiet=True, figures=False)
  records = results.read_records(result.folder / "records.jsonl")
  spe = steps_per_epoch(cfg)
  rows = member_rows(records, spe)
  norms = init_norms(result, cfg)
  table = step_table(rows, cfg, norms)
  setting = (f"a + b mod {cfg.p}, train fraction {cfg.train_fraction}; TokenMLP (embeddings "
             f"{cfg.embed}, hidden {cfg.width}, ReLU), {cfg.scheme} times alpha; AdamW lr {cfg.lr}, "
             f"weight decay {cfg.weight_decay}, batch {cfg.batch_size} ({spe} steps per epoch), "
             f"{cfg.epochs * spe} steps, evaluated every {cfg.eval_every * spe} steps; {cfg.seeds} "
             "seeds per alpha.")
  body = [[f"{r['scale']:g}", f"{r['init_norm']:.3g}",
           _steps_text(r, "steps_train", r["n"]), _steps_text(r, "steps_test", r["n"]),
           "n/a" if math.isnan(r["delay_median"]) else f"{r['delay_median']:.0f}"] for r in table]
  caption = ("Steps to 99% accuracy per init scale alpha: the median over the seeds that reached it, "
             "[25th, 75th percentile], (how many of the seeds reached it within the budget); the "
             "delay is the median of (test step - train step) over the seeds that reached 99% test "
             "accuracy. Steps are resolved to the evaluation interval. init norm: the L2 norm of all "
             "initial weights, the mean over seeds. " + setting)
  out.text_table("steps", ["alpha", "init norm", "steps to 99% train", "steps to 99% test",
                           "median delay"], body, caption, table, left=0)
  out.table(stats.summarize(rows, ("scale",), ("train_acc", "test_acc")), "accuracy", by=("scale",),
            metrics=("train_acc", "test_acc"), setting=setting)
  out.figure(curves_figure(records, cfg, spe), "curves",
             "Train (dashed) and test (solid) accuracy against the step, one colour per init scale "
             "alpha: the median over seeds, bands the interquartile range. " + setting)
  out.figure(steps_figure(rows, cfg), "steps",
             "Steps to 99% train and 99% test accuracy against alpha, one point per seed (jittered); "
             "open markers at the dotted budget line: seeds that never reached it. " + setting)
  out.summary({"per_scale": {f"{r['scale']:g}": {k: v for k, v in r.items() if k != "scale"}
                             for r in table}})
  print((out.folder / "steps.md").read_text(), end="")
  return 0


def init_norms(result: sweep.SweepResult, cfg: Config) -> dict[float, float]:
  """The mean over seeds of the L2 norm of all initial weights (rank >= 2 leaves) per scale, from
  the population the sweep drew (:func:`jaxinit.engine.population.init_params`)."""
  import jax

  from jaxinit.engine import population

  config = sweep_config(cfg)
  x = np.zeros((2, 3), np.float32)
  model = config.model.build(x)
  members = config.members()
  variables = population.init_params(model, members, x.shape[1:], host=True)
  leaves = [np.asarray(v) for v in jax.tree.leaves(variables["params"]) if np.ndim(v) >= 3]
  norm = np.sqrt(sum((leaf.reshape(leaf.shape[0], -1) ** 2).sum(1) for leaf in leaves))
  return {s: float(np.mean([n for n, m in zip(norm, members, strict=True) if m.scale == s]))
          for s in cfg.scales}


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
