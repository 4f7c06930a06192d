"""Deep transformers: which normalization placement and init train as depth grows, with and without
learning-rate warmup, and at which learning rate?

Sources: Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture" (post-LN needs
warmup, pre-LN does not); Huang et al. 2020 (T-Fixup: no LayerNorm, no warmup, by init alone);
Wang et al. 2022 (DeepNet: post-LN with DeepNorm's skip multiplier and init trains 1,000 layers);
Radford et al. 2019 (GPT-2: pre-LN, residual projections scaled by 1/sqrt(2L)).

Setup: associative recall (:func:`jaxinit.data.recall`: 4 pairs, 16 keys, 16 values, sequences of
9 tokens, 4,096 training sequences), a decoder (:class:`jaxinit.nets.transformer.Decoder`) of
d_model 32, 2 heads, at depths 2, 8 and 16 in five arms: post-LN and pre-LN with LeCun-normal kernels
(Flax's default), GPT-2 (pre-LN, ``gpt2(depth=L)``), DeepNorm (post-LN with skip multiplier
(2L)^(1/4), ``deepnorm(depth=L)``) and T-Fixup (no LayerNorm, ``t_fixup(depth=L, width=32)``);
Adam over learning rates 2^-12 .. 2^-7, 2 epochs of batch 64 (128 steps), a constant rate or a
linear warmup over the first 25% of the steps (then constant), 2 seeds; one compiled program per
(arm, depth, schedule). An arm trains at a depth when its best learning rate's final training loss
is below 90% of the chance loss ln 16. Per seed, the best learning rate (the spread says how sharp
the optimum is).

Writes ``loss_by_lr.{md,tex,csv}``, ``best.{md,csv}`` (per arm, depth and schedule: the best mean
loss, its learning rate and each seed's), ``depth.{png,pdf}`` and ``summary.json``.

    python -m experiments.transformer_depth          # ~25 min on 2 CPU cores (30 programs)
    python -m experiments.transformer_depth --tiny   # a minute

Deeper (24 blocks took ~7 min per program here; the 100s of layers of DeepNet) and more seeds are
left for a GPU. Interrupted? Rerun:
finished sweeps are read back.
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
from jaxinit.schemes import transformers
from jaxinit.studies import gallery, sweep

NAME = "transformer_depth"
MODEL = "jaxinit.nets.transformer:Decoder"
ARMS = ("post-LN", "pre-LN", "GPT-2", "DeepNorm", "T-Fixup")
TRAINS = 0.9
"""An arm trains when its best final training loss is below this fraction of the chance loss."""


@dataclasses.dataclass(frozen=True)
class Config:
  """The study.

  Attributes:
    data: the token task.
    width, heads: the decoder's d_model and heads.
    depths: the blocks compared.
    arms: of :data:`ARMS`.
    warmups: the warmup fractions compared (0: a constant rate).
    lr_exponents: the learning rates' base-2 exponents, ``(first, last)`` inclusive.
    seeds, epochs, batch_size: the training.
  """

  data: str = "recall(pairs=4, keys=16, values=16, n=4096, n_test=1024)"
  width: int = 32
  heads: int = 2
  depths: tuple[int, ...] = (2, 8, 16)
  arms: tuple[str, ...] = ARMS
  warmups: tuple[float, ...] = (0.0, 0.25)
  lr_exponents: tuple[int, int] = (-12, -7)
  seeds: int = 2
  epochs: int = 2
  batch_size: int = 64


TINY = Config(data="recall(pairs=2, keys=8, values=8, n=512, n_test=128)", width=16, depths=(2, 4),
              arms=("pre-LN", "T-Fixup"), warmups=(0.0,), lr_exponents=(-8, -5), seeds=2)


def arm_setup(arm: str, depth: int, width: int) -> tuple[dict[str, Any], str]:
  """The decoder arguments and the scheme of one arm at one depth."""
  if arm == "post-LN":
    return {"norm": "post"}, "lecun_normal"
  if arm == "pre-LN":
    return {"norm": "pre"}, "lecun_normal"
  if arm == "GPT-2":
    return {"norm": "pre"}, f"gpt2(depth={depth})"
  if arm == "DeepNorm":
    return ({"norm": "post", "skip_multiplier": transformers.deepnorm_alpha(depth)},
            f"deepnorm(depth={depth})")
  if arm == "T-Fixup":
    return {"norm": "none"}, f"t_fixup(depth={depth}, width={width})"
  raise ValueError(f"unknown arm {arm!r}; accepted: {', '.join(ARMS)}")


def sweep_config(cfg: Config, arm: str, depth: int, warmup: float) -> sweep.SweepConfig:
  """One (arm, depth, schedule)'s sweep: learning rates x seeds."""
  model_args, scheme = arm_setup(arm, depth, cfg.width)
  args = {"vocab": data.vocabulary(cfg.data), "outputs": data.num_classes(cfg.data),
          "width": cfg.width, "depth": depth, "heads": cfg.heads, **model_args}
  first, last = cfg.lr_exponents
  schedule = f"warmup_constant(warmup={warmup})" if warmup else "constant"
  return sweep.SweepConfig(
      data=cfg.data, model=protocol.Spec(MODEL, json.dumps(args)),
      train=tr.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer="adam",
                           schedule=schedule, eval_every=cfg.epochs),
      schemes=(scheme,), seeds=tuple(range(cfg.seeds)),
      lrs=tuple(2.0 ** k for k in range(first, last + 1)))


def depth_figure(best: list[dict[str, Any]], cfg: Config, chance: float) -> Figure:
  """The best final training loss against depth per arm, one panel per schedule."""
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(4.8 * len(cfg.warmups), 3.8), layout="constrained")
    axes = fig.subplots(1, len(cfg.warmups), squeeze=False)[0]
    for ax, warmup in zip(axes, cfg.warmups, strict=True):
      for i, arm in enumerate(cfg.arms):
        cell = [r for r in best if r["arm"] == arm and r["warmup"] == warmup]
        ax.errorbar([r["depth"] * 2 ** (0.04 * (i - 2)) for r in cell],
                    [r["train_loss_mean"] for r in cell],
                    yerr=[np.nan_to_num(r["train_loss_std"]) for r in cell], fmt="o-", ms=4,
                    capsize=3, color=f"C{i}", label=arm)
      ax.axhline(chance, color="0.5", ls=":", lw=1)
      ax.axhline(TRAINS * chance, color="0.7", ls="--", lw=0.8)
      ax.set_xscale("log", base=2)
      ax.set_xlabel("depth (blocks)")
      ax.set_ylabel("best final training loss")
      ax.set_title("constant lr" if not warmup else f"warmup over {warmup:.0%} of the steps")
      ax.legend(fontsize=8)
  return fig


def main(argv: list[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  if out.finished():
    return 0
  cfg = out.config
  rows: list[dict[str, Any]] = []
  per_seed: dict[tuple[str, int, float], dict[int, float]] = {}
  for warmup in cfg.warmups:
    for arm in cfg.arms:
      for depth in cfg.depths:
        name = f"{arm}-depth{depth}-warmup{round(100 * warmup)}"
        result = out.sweep(name, sweep_config(cfg, arm, depth, warmup), quiet=True, figures=False)
        rows += [{"arm": arm, "depth": depth, "warmup": warmup, **r} for r in result.table]
        records = results.read_records(result.folder / "records.jsonl")
        per_seed[(arm, depth, warmup)] = stats.per_seed_argmin(records, ())[()]
  chance = math.log(data.num_classes(cfg.data))
  setting = (f"{cfg.data}; decoder d_model {cfg.width}, {cfg.heads} heads; Adam, {cfg.epochs} "
             f"epochs of batch {cfg.batch_size}; warmup fractions {cfg.warmups}; {cfg.seeds} seeds "
             f"per cell; chance loss ln {data.num_classes(cfg.data)} = {chance:.3f}.")
  out.table(rows, "loss_by_lr", by=("warmup", "arm", "depth", "lr"),
            metrics=("train_loss", "test_acc"), setting=setting)
  best = []
  for (arm, depth, warmup), seeds in per_seed.items():
    cell = [r for r in rows if (r["arm"], r["depth"], r["warmup"]) == (arm, depth, warmup)
            and math.isfinite(r["train_loss_mean"])]
    top = min(cell, key=lambda r: r["train_loss_mean"]) if cell else None
    best.append({"arm": arm, "depth": depth, "warmup": warmup,
                 "lr": top["lr"] if top else math.nan,
                 "train_loss_mean": top["train_loss_mean"] if top else math.nan,
                 "train_loss_ci95": top["train_loss_ci95"] if top else math.nan,
                 "train_loss_std": top["train_loss_std"] if top else math.nan,
                 "test_acc_mean": top["test_acc_mean"] if top else math.nan,
                 "trains": bool(top and top["train_loss_mean"] < TRAINS * chance),
                 "per_seed_log2_lr": ",".join(f"{math.log2(v):+.0f}" for v in seeds.values())})
  caption = ("Per arm, depth and schedule: the learning rate of the lowest mean final training loss "
             "(log2), that loss (± 95% CI over seeds), the test accuracy there, each seed's own best "
             f"learning rate (log2), and whether it trains (loss below {TRAINS:.0%} of chance). "
             + setting)
  body = [[r["arm"], str(r["depth"]), f"{r['warmup']:g}",
           f"{math.log2(r['lr']):+.0f}" if math.isfinite(r["lr"]) else "all diverged",
           f"{r['train_loss_mean']:.3f} ± {r['train_loss_ci95']:.3f}",
           f"{100 * r['test_acc_mean']:.1f}", r["per_seed_log2_lr"], "yes" if r["trains"] else "no"]
          for r in best]
  out.text_table("best", ["arm", "depth", "warmup", "log2 best lr", "train loss", "test acc (%)",
                          "per seed", "trains"], body, caption, best)
  out.figure(depth_figure(best, cfg, chance), "depth",
             "The best final training loss over the learning-rate grid against depth, per arm "
             "(bars ± one std over seeds at that learning rate; the 95% CIs are in best.md; "
             "dotted: chance, dashed: the "
             f"{TRAINS:.0%} threshold), without and with warmup. " + setting)
  out.summary({"best": {f"{r['arm']}/depth{r['depth']}/warmup{r['warmup']:g}": {
      k: r[k] for k in ("lr", "train_loss_mean", "train_loss_ci95", "trains", "per_seed_log2_lr")}
      for r in best}})
  print((out.folder / "best.md").read_text(), end="")
  return 0


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
