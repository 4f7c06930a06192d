"""muP for transformers: does the best Adam learning rate transfer across width, and do attention
logits stay Theta(1) with the 1/d scale?

Source: Yang et al. 2022, "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot
Hyperparameter Transfer", §4 and Fig. 1 (transformers): under the standard parametrization the
best learning rate of a transformer moves with width; under muP, with attention logits scaled by
1/d_head instead of 1/sqrt(d_head), the readout and the query projection initialized to zero, it
stays. With 1/sqrt(d_head), q and k become correlated in training and the logits' change grows like
sqrt(d_head); with 1/d_head it stays Theta(1).

Setup: associative recall (:func:`jaxinit.data.recall`: 4 key-value pairs, 16 keys, 16 values,
sequences of 9 tokens) with a pre-LN decoder (:class:`jaxinit.nets.transformer.Decoder`: 2 blocks,
4 heads, so d_head = d_model / 4) at d_model 32 .. 256. SP: LeCun-normal kernels, zero biases,
embeddings as built, 1/sqrt(d_head) logits. muP: ``mup(base_width=32)`` (roles inferred from the
shapes, :mod:`jaxinit.nets.parametrizations`), ``mup_init`` (zero query and readout), 1/d_head logits.
Adam over learning rates 2^-11 .. 2^-5 (factor 2), 4 seeds, 2 epochs of batch 64 on 4,096 training
sequences; one compiled program (learning rates x seeds) per parametrization and width. The loss is
the mean training cross-entropy at the end. Per seed, the best learning rate; the shift of the
optimum from the base width is the mean over seeds of the per-seed shift (in factors of 2) with its
standard error. The logit check: 4 networks per width, 3 Adam steps (lr 2^-8) on one batch of 64, the
RMS of the change of the attention logits of the first block, and its log-log slope against width.

Writes ``loss_by_lr.{md,tex,csv}``, ``optimal_lr.{md,csv}``, ``logits.{md,csv}``,
``lr_transfer.{png,pdf}``, ``logits.{png,pdf}`` and ``summary.json``.

    python -m experiments.mup_transformer          # ~20 min on 2 CPU cores
    python -m experiments.mup_transformer --tiny   # seconds

A GPU takes the widths past 256 with ``Config(widths=(32, ..., 2048))``. Interrupted? Rerun:
finished sweeps are read back.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from jaxinit import data, results
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import protocol
from jaxinit.results import plots, stats
from jaxinit.studies import coordcheck, gallery, sweep

NAME = "mup_transformer"
MODEL = "jaxinit.nets.transformer:Decoder"


@dataclasses.dataclass(frozen=True)
class Config:
  """The study.

  Attributes:
    data: the token task.
    depth, heads: the decoder's blocks and heads (d_head = width / heads).
    widths: d_model; the first is muP's base width.
    lr_exponents: the learning rates' base-2 exponents, ``(first, last)`` inclusive.
    seeds, epochs, batch_size: the training.
    logit_lr, logit_steps, logit_batch, logit_seeds: the logit check.
  """

  data: str = "recall(pairs=4, keys=16, values=16, n=4096, n_test=1024)"
  depth: int = 2
  heads: int = 4
  widths: tuple[int, ...] = (32, 64, 128, 256)
  lr_exponents: tuple[int, int] = (-11, -5)
  seeds: int = 4
  epochs: int = 2
  batch_size: int = 64
  logit_lr: float = 2.0 ** -8
  logit_steps: int = 3
  logit_batch: int = 64
  logit_seeds: int = 4


TINY = Config(data="recall(pairs=2, keys=8, values=8, n=512, n_test=128)", depth=1, heads=2,
              widths=(16, 32), lr_exponents=(-8, -5), seeds=2, epochs=2, batch_size=64,
              logit_seeds=2)

ARMS = {  # label: (parametrization, attention scale, scheme)
    "SP": ("sp", "1/sqrt(d_head)", "lecun_normal"),
    "muP": ("mup(base_width={base})", "1/d_head", "mup_init"),
}
LOGIT_ARMS = {**ARMS, "muP, 1/sqrt(d)": ("mup(base_width={base})", "1/sqrt(d_head)", "mup_init")}


def spec(cfg: Config, arm: tuple[str, str, str], width: int) -> protocol.Spec:
  """The decoder of one arm at one width."""
  parametrization, attention, _ = arm
  args = {"vocab": data.vocabulary(cfg.data), "outputs": data.num_classes(cfg.data),
          "width": width, "depth": cfg.depth, "heads": cfg.heads, "attention": attention}
  return protocol.Spec(MODEL, json.dumps(args),
                       parametrization=parametrization.format(base=cfg.widths[0]))


def sweep_config(cfg: Config, arm: tuple[str, str, str], width: int) -> sweep.SweepConfig:
  """One arm's sweep at one width: learning rates x seeds."""
  first, last = cfg.lr_exponents
  return sweep.SweepConfig(
      data=cfg.data, model=spec(cfg, arm, width),
      train=tr.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer="adam",
                           eval_every=cfg.epochs),
      schemes=(arm[2],), seeds=tuple(range(cfg.seeds)),
      lrs=tuple(2.0 ** k for k in range(first, last + 1)))


def optimal_rows(best: dict[tuple[str, int], dict[int, float]], cfg: Config) -> list[dict[str, Any]]:
  """Per arm and width: the per-seed best learning rates' mean log2 (± std), and the shift from the
  base width, the mean over seeds of the per-seed shift with its standard error."""
  rows = []
  for (label, width), by_seed in best.items():
    base = best[(label, cfg.widths[0])]
    seeds = sorted(set(by_seed) & set(base))
    exps = np.log2([by_seed[s] for s in seeds])
    shift = exps - np.log2([base[s] for s in seeds])
    n = len(seeds)
    rows.append({"parametrization": label, "width": width, "n": n,
                 "log2_lr_mean": float(exps.mean()),
                 "log2_lr_std": float(exps.std(ddof=1)) if n > 1 else math.nan,
                 "per_seed": ",".join(f"{e:+.0f}" for e in exps),
                 "shift_mean": float(shift.mean()),
                 "shift_se": float(shift.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan})
  return rows


def logit_change(cfg: Config, arm: tuple[str, str, str], width: int) -> np.ndarray:
  """The RMS of the change of block 0's attention logits after each Adam step, ``(seeds, steps)``."""
  dataset = data.load(cfg.data)
  x = jnp.asarray(dataset.x_train[:cfg.logit_batch])
  y = jnp.asarray(dataset.y_train[:cfg.logit_batch])
  model = spec(cfg, arm, width).build(x)
  members = [pop.Member(arm[2], s, lr=cfg.logit_lr) for s in range(cfg.logit_seeds)]
  train_cfg = tr.TrainConfig(epochs=cfg.logit_steps, batch_size=None, optimizer="adam")
  key = "block_0/attn/logits"

  @jax.jit
  def logits(variables: dict) -> jax.Array:
    return jax.vmap(lambda v: model.capture(v, x)[1][key])(variables)

  initial = tr.init_state(model, train_cfg, members, x)
  m = len(members)
  z0 = logits(jax.tree.map(lambda a: a[:m], tr.variables(initial)))
  out = []
  for _, state, _ in tr.run(model, train_cfg, members, tr.DeviceData(x, y, x, y), initial):
    z = logits(jax.tree.map(lambda a: a[:m], tr.variables(state)))
    out.append(np.sqrt(np.mean(np.square(np.asarray(z - z0, np.float64)), axis=(1, 2, 3, 4))))
  return np.stack(out, 1)


def transfer_figure(rows: list[dict[str, Any]], optimal: list[dict[str, Any]], cfg: Config) -> Figure:
  """Final training loss against the learning rate per width (one panel per arm), and the per-seed
  best learning rate against width."""
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(4.5 * (len(ARMS) + 1), 3.8), layout="constrained")
    axes = fig.subplots(1, len(ARMS) + 1)
    for ax, label in zip(axes, ARMS, strict=False):
      plots.lr_curves(ax, [r for r in rows if r["parametrization"] == label], "train_loss")
      ax.set_title(label)
      ax.legend(fontsize=7)
    ax = axes[-1]
    for j, label in enumerate(ARMS):
      cell = [r for r in optimal if r["parametrization"] == label]
      w = np.array([r["width"] for r in cell], np.float64)
      m = np.array([r["log2_lr_mean"] for r in cell])
      sd = np.nan_to_num(np.array([r["log2_lr_std"] for r in cell]))
      ax.errorbar(w * 2 ** (0.05 * (2 * j - 1)), m, yerr=sd, fmt="o-" if j == 0 else "s--", ms=5,
                  capsize=3, color=f"C{3 * j}", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("d_model")
    ax.set_ylabel("log2 best learning rate")
    ax.set_title("best lr per seed: mean ± std")
    ax.legend(fontsize=8)
  return fig


def logits_figure(changes: dict[str, np.ndarray], cfg: Config) -> Figure:
  """The logits' change after the last step against width, per arm (mean ± std over seeds)."""
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(5.5, 4), layout="constrained")
    ax = fig.add_subplot()
    for j, (label, c_WST) in enumerate(changes.items()):
      last = c_WST[:, :, -1]
      ax.errorbar(cfg.widths, last.mean(1), yerr=last.std(1, ddof=1) if last.shape[1] > 1 else None,
                  fmt="o-", ms=4, capsize=3, color=f"C{j}", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("d_model")
    ax.set_ylabel(f"RMS change of block-0 logits after {cfg.logit_steps} steps")
    ax.legend(fontsize=8)
  return fig


def main(argv: list[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  if out.finished():
    return 0
  cfg = out.config
  rows: list[dict[str, Any]] = []
  best: dict[tuple[str, int], dict[int, float]] = {}
  for label, arm in ARMS.items():
    for width in cfg.widths:
      result = out.sweep(f"{label}-width{width}", sweep_config(cfg, arm, width), quiet=True,
                         figures=False)
      rows += [{"parametrization": label, "width": width, **r} for r in result.table]
      records = results.read_records(result.folder / "records.jsonl")
      best[(label, width)] = stats.per_seed_argmin(records, ())[()]
  setting = (f"{cfg.data}; pre-LN decoder, depth {cfg.depth}, {cfg.heads} heads; Adam, "
             f"{cfg.epochs} epochs of batch {cfg.batch_size}; muP's base width {cfg.widths[0]}; "
             f"{cfg.seeds} seeds per cell.")
  out.table(rows, "loss_by_lr", by=("parametrization", "width", "lr"),
            metrics=("train_loss", "test_acc"), setting=setting)
  optimal = optimal_rows(best, cfg)
  caption = ("Per seed, the learning rate of the lowest final training loss on the factor-2 grid: "
             "their mean log2 ± std over seeds (and each seed's), and the shift from the base "
             "width's optimum, the mean over seeds of the per-seed shift ± its standard error "
             "(0: it transfers). " + setting)
  body = [[r["parametrization"], str(r["width"]), f"{r['log2_lr_mean']:+.2f} ± {r['log2_lr_std']:.2f}",
           r["per_seed"], f"{r['shift_mean']:+.2f} ± {r['shift_se']:.2f}"] for r in optimal]
  out.text_table("optimal_lr", ["parametrization", "d_model", "log2 best lr", "per seed",
                                "shift (± SE)"], body, caption, optimal, left=2)
  changes = out.cached("logits", cfg, lambda: {
      label: np.stack([logit_change(cfg, arm, w) for w in cfg.widths])
      for label, arm in LOGIT_ARMS.items()})
  logit_rows = []
  for label, c_WST in changes.items():
    s, spread = coordcheck.loglog_slopes(cfg.widths, c_WST[:, :, -1])
    logit_rows.append({"arm": label, "slope": float(s), "spread": float(spread),
                       **{f"rms_width{w}": float(c_WST[i, :, -1].mean())
                          for i, w in enumerate(cfg.widths)}})
  logit_caption = (f"The RMS change of block 0's attention logits after {cfg.logit_steps} Adam "
                   f"steps (lr {cfg.logit_lr:g} at the base width, one batch of {cfg.logit_batch}), "
                   f"the mean over {cfg.logit_seeds} networks per width, and its log-log slope "
                   "against width (± the std of the per-network slopes); 0 is Theta(1), 0.5 "
                   "grows like sqrt(d). " + setting)
  out.text_table("logits", ["arm", "slope", *(f"d={w}" for w in cfg.widths)],
                 [[r["arm"], f"{r['slope']:+.2f} ± {r['spread']:.2f}",
                   *(f"{r[f'rms_width{w}']:.3g}" for w in cfg.widths)] for r in logit_rows],
                 logit_caption, logit_rows)
  out.figure(transfer_figure(rows, optimal, cfg), "lr_transfer",
             "Final training loss against the Adam learning rate, one curve per width (bars the "
             "95% CI over seeds; stars each width's best mean), under SP and muP; right: the "
             "per-seed best learning rate against width (mean ± std over seeds). " + setting)
  out.figure(logits_figure(changes, cfg), "logits",
             f"The RMS change of the first block's attention logits after {cfg.logit_steps} Adam "
             "steps against width (mean ± std over networks). " + setting)
  out.summary({"optimal_lr": {f"{r['parametrization']}/width{r['width']}": {
      k: r[k] for k in ("log2_lr_mean", "log2_lr_std", "shift_mean", "shift_se", "n")}
      for r in optimal},
      "logit_slopes": {r["arm"]: {"slope": r["slope"], "spread": r["spread"]} for r in logit_rows}})
  print((out.folder / "optimal_lr.md").read_text(), end="")
  print((out.folder / "logits.md").read_text(), end="")
  return 0


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
