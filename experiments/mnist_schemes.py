"""mnist_schemes: how much does the initialization scheme matter for a small MNIST MLP trained 5
epochs, and what exactly does the all-zeros network learn?

Source: 004 in /work/shared/sources (a blog post on weight initialization with Keras). It trains a
784-128-64-10 ReLU MLP with a softmax output on MNIST for 5 epochs, once per scheme: zeros,
``random_uniform``, Glorot uniform and normal, He uniform and normal, and shows the Keras logs
(zeros stays at val_acc 0.1135; the others reach 0.974 to 0.978).

Setup (each choice is stated because the text leaves it out):

* data: MNIST's 60000 training images for training, its 10000 test images as the "validation"
  set, pixels / 255 (``normalize="unit"``, as Keras MNIST examples do); the text's logs count
  60000 samples per epoch, so no validation split was taken from the training set.
* optimizer: Adam at Keras' default lr 1e-3 (the text's likely ``optimizer='adam'``), and SGD with
  heavy-ball momentum 0.9 at lr 0.01 as a second optimizer. Batch 128: the text does not say; batch
  128 matches its epoch-1 Glorot/He test accuracies (0.949 to 0.955; |z| <= 0.8 against our seeds)
  where Keras' default 32 gives about 0.964 after one epoch (measured with he_normal, 16 seeds:
  0.955 at 128, 0.964 at 32).
* schemes (every layer's kernel; zero biases, Keras' default): the text's six, where Keras 2's
  ``glorot_normal``/``he_normal`` draw a normal truncated at 2 std (``glorot_truncated_normal``,
  ``he_truncated_normal`` here) and ``random_uniform`` is U(-0.05, 0.05); with Adam also the plain
  normal ``he_normal`` of the paper, and ``random_uniform`` on the first layer only with Keras'
  default glorot_uniform on the others (:data:`FIRST_LAYER_ONLY`: the text's code shows the
  initializer on the first layer only; does that reading explain its random_uniform numbers?).
  ``critical(relu)`` (C_W = 2, C_b = 0) is He normal: it is checked to draw bit-identical initial
  parameters to ``he_normal`` for every seed, so it is not trained twice.
* seeds: the same 16 seeds under every scheme (common random numbers: a seed fixes the initial
  draws and, with ``shuffle="member"``, the minibatch order), so schemes are compared pair by pair
  (:mod:`jaxinit.results.paired`: per-seed differences of final test accuracy against
  ``he_truncated_normal``, Keras' He normal: mean, t 95% CI, paired t-test and exact sign-flip
  p-values).
* zeros: every hidden unit is 0 and only the output bias gets a gradient, so the logits are the
  output bias for every input; it learns the log class frequencies and the network predicts the
  most frequent training class for every image. The script checks this on the trained parameters.

Size, and what was cut: the issue asked for 13 schemes x 2 optimizers x >= 16 seeds (416 networks
x 5 epochs). On the shared 2-core CPU one network-epoch on all 60000 images took 3.5 to 5.3 s
(load average 10 to 15 from other jobs), so that is 2 to 3 hours. Kept: 16 seeds, 5 epochs, full
MNIST, all 13 schemes with Adam (the text's six, he_normal plain, the first-layer-only reading,
then glorot_normal plain, lecun_normal, orthogonal, LSUV and MetaInit; critical(relu) is he_normal,
see above), and SGD + momentum on the text's six and he_normal; cut: SGD + momentum on the other
six. Five sweeps, each one compiled program (Adam, SGD + momentum, and three later stages added
without retraining the first two).

    JAXINIT_DATA_DIR=/work/shared/datasets python -m experiments.mnist_schemes   # ~55 min (load 3-17)
    JAXINIT_DATA_DIR=/work/shared/datasets python -m experiments.mnist_schemes --tiny   # ~15 s CPU

Interrupted? Rerun the same command: finished stages are read back, a sweep cut short resumes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from jaxinit import data, results
from jaxinit import schemes as scheme_registry
from jaxinit.engine import population
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.results import folders, paired, plots, stats
from jaxinit.studies import gallery, sweep

NAME = "mnist_schemes"

TEXT_SCHEMES = ("zeros", "random_uniform", "glorot_uniform", "glorot_truncated_normal", "he_uniform",
                "he_truncated_normal")
"""The text's six schemes, by the names of what Keras 2 drew for them."""

TEXT_VAL_ACC = {
    "zeros": (0.1135, 0.1135, 0.1135, 0.1135, 0.1135),
    "random_uniform": (0.9432, 0.9622, 0.9705, 0.9710, 0.9755),
    "glorot_uniform": (0.9545, 0.9679, 0.9711, 0.9735, 0.9771),
    "glorot_truncated_normal": (0.9492, 0.9658, 0.9706, 0.9741, 0.9783),
    "he_uniform": (0.9546, 0.9671, 0.9697, 0.9740, 0.9740),
    "he_truncated_normal": (0.9508, 0.9625, 0.9727, 0.9735, 0.9769),
}
"""The text's val_acc (MNIST test accuracy) after epochs 1 to 5, one Keras run per scheme."""

OPTIMIZERS = ("adam", "momentum")

FIRST_LAYER_ONLY = "layers(random_uniform, glorot_uniform, glorot_uniform)"
"""The text's code sets ``kernel_initializer`` on the first Dense layer only, as far as it shows:
the other two then keep Keras' default, glorot_uniform. This scheme tests that reading."""

LABELS = {"uniform(low=-0.05, high=0.05)": "random_uniform",
          scheme_registry.get(FIRST_LAYER_ONLY).name: "random_uniform, layer 1 only"}
"""Short names for the figures (the tables print the canonical ones)."""


def label(scheme: str) -> str:
  """A scheme's name in the figures."""
  return LABELS.get(scheme, scheme)


def text_val_acc() -> dict[str, tuple[float, ...]]:
  """:data:`TEXT_VAL_ACC` keyed by canonical scheme names (as the records name them)."""
  return {scheme_registry.get(k).name: v for k, v in TEXT_VAL_ACC.items()}


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything that decides the numbers.

  Attributes:
    schemes: trained with Adam.
    momentum_schemes, momentum_more: trained with SGD + momentum (two sweeps, the second added
      later without retraining the first).
    seeds: seeds 0 .. seeds - 1 under every scheme.
    epochs, batch_size: passes over the training set and examples per step.
    adam: Adam with Keras 2's constants (beta1 0.9, beta2 0.999, epsilon 1e-7).
    adam_lr: Adam's learning rate (Keras' default).
    momentum_lr, momentum: SGD + heavy-ball momentum.
    normalize: the input scaling (:data:`jaxinit.data.NORMALIZATIONS`).
    reference: the scheme every other is compared with, pair by pair.
    twin: two schemes checked to draw the same initial parameters for every seed (the first is
      not trained), or None (the tiny run: no check).
    subset: ``(n_train, n_test)``: train and test on the first examples of MNIST's splits only
      (the tiny run); None: all of them.
    widths: the MLP's layer widths (784 inputs).
  """

  schemes: tuple[str, ...] = TEXT_SCHEMES
  momentum_schemes: tuple[str, ...] = ("random_uniform", "glorot_uniform", "he_truncated_normal")
  extra_schemes: tuple[str, ...] = ("he_normal", FIRST_LAYER_ONLY)
  more_schemes: tuple[str, ...] = ("glorot_normal", "lecun_normal", "orthogonal", "lsuv", "metainit")
  momentum_more: tuple[str, ...] = ("zeros", "glorot_truncated_normal", "he_uniform", "he_normal")
  seeds: int = 16
  epochs: int = 5
  batch_size: int = 128
  adam: str = "adam(eps=1e-07)"
  adam_lr: float = 1e-3
  momentum_lr: float = 0.01
  momentum: float = 0.9
  normalize: str = "unit"
  reference: str = "he_truncated_normal"
  twin: tuple[str, str] | None = ("critical(relu)", "he_normal")
  subset: tuple[int, int] | None = None
  widths: tuple[int, ...] = (128, 64, 10)


TINY = Config(schemes=("zeros", "he_truncated_normal", "random_uniform"),
              momentum_schemes=(), extra_schemes=(), more_schemes=(), momentum_more=(), seeds=3,
              epochs=2, subset=(1024, 512), twin=None)

STAGES = ("adam", "momentum", "adam_extra", "adam_more", "momentum_more")
"""The sweeps, in the order they run: Adam on ``schemes``, SGD + momentum on ``momentum_schemes``,
Adam on ``extra_schemes`` and on ``more_schemes``, SGD + momentum on ``momentum_more`` (same seeds,
so each is paired with the first of its optimizer)."""


def optimizer(stage: str) -> str:
  """The optimizer of one of :data:`STAGES`: ``"adam"`` or ``"momentum"``."""
  return "momentum" if stage.startswith("momentum") else "adam"


def sweep_config(cfg: Config, stage: str) -> sweep.SweepConfig | None:
  """The sweep of one of :data:`STAGES`, or None when it has no scheme."""
  adam = optimizer(stage) == "adam"
  schemes = {"adam": cfg.schemes, "momentum": cfg.momentum_schemes,
             "adam_extra": cfg.extra_schemes, "adam_more": cfg.more_schemes,
             "momentum_more": cfg.momentum_more}[stage]
  if not schemes:
    return None
  return sweep.SweepConfig(
      data="mnist", normalize=cfg.normalize, model=models.ModelConfig(widths=cfg.widths),
      train=tr.TrainConfig(optimizer=cfg.adam if adam else "momentum", epochs=cfg.epochs,
                           batch_size=cfg.batch_size, shuffle="member"),
      schemes=schemes, seeds=tuple(range(cfg.seeds)),
      lrs=(cfg.adam_lr if adam else cfg.momentum_lr,), momenta=(cfg.momentum,))


def write_subset(folder: Path, n_train: int, n_test: int) -> Path:
  """Writes the first ``n_train`` / ``n_test`` examples of MNIST's IDX files (in
  ``$JAXINIT_DATA_DIR`` or its ``mnist/``, raw or ``.gz``) as raw IDX files into ``folder/mnist``
  and returns ``folder`` (a ``data_dir``). Files already there are kept."""
  target = folder / "mnist"
  if all((target / name).exists() for name in data.IDX_FILES):
    return folder
  source = Path(os.environ.get(data.ENV_VAR) or ".")
  target.mkdir(parents=True, exist_ok=True)
  for name, n in zip(data.IDX_FILES, (n_train, n_train, n_test, n_test), strict=True):
    found = [p for d in (source / "mnist", source) for p in (d / name, d / f"{name}.gz")
             if p.exists()]
    if not found:
      raise ValueError(f"{name}[.gz] is in neither {source} nor {source / 'mnist'}; accepted: the "
                       f"MNIST IDX files in ${data.ENV_VAR} or its mnist/ folder")
    x = data.read_idx(found[0])[:n]
    header = bytes([0, 0, 8, x.ndim]) + np.asarray(x.shape, ">u4").tobytes()
    tmp = target / f".{name}.tmp"
    tmp.write_bytes(header + x.tobytes())
    tmp.replace(target / name)
  return folder


def twin_check(cfg: Config, x_shape: Sequence[int]) -> dict[str, np.ndarray]:
  """Draws both schemes of ``cfg.twin`` for every seed; returns the largest absolute difference of
  any initial parameter, ``max_abs_diff`` (a scalar array)."""
  model = models.ModelConfig(widths=cfg.widths)
  members = population.grid(list(cfg.twin), range(cfg.seeds))
  params = population.init_params(model, members, x_shape, host=True)["params"]
  leaves = [np.asarray(v) for v in _leaves(params)]
  return {"max_abs_diff": np.array(max(float(np.abs(v[:cfg.seeds] - v[cfg.seeds:]).max())
                                       for v in leaves))}


def _leaves(tree: Any) -> list[Any]:
  if isinstance(tree, dict):
    return [leaf for k in sorted(tree) for leaf in _leaves(tree[k])]
  return [tree]


def merged_records(res: dict[str, sweep.SweepResult]) -> dict[str, list[dict[str, Any]]]:
  """The records per optimizer: ``adam_extra``'s appended to ``adam``'s, its member indices shifted
  past them (the same seeds, so every Adam scheme pairs with every other)."""
  out: dict[str, list[dict[str, Any]]] = {}
  for stage, r in res.items():
    rows = results.read_records(results.RunFolder(r.folder).records)
    opt = optimizer(stage)
    shift = 1 + max((row["member"] for row in out.get(opt, [])), default=-1)
    out.setdefault(opt, []).extend({**row, "member": row["member"] + shift} for row in rows)
  return out


def final_accuracy(rows: list[dict[str, Any]], scheme: str, seeds: int, epoch: int) -> np.ndarray:
  """``(seeds,)`` test accuracy of ``scheme`` at ``epoch``, seed ``i`` at index ``i`` (NaN for a
  diverged member)."""
  out = np.full(seeds, np.nan)
  for r in rows:
    if r["scheme"] == scheme and r["epoch"] == epoch and not r["diverged"]:
      out[r["seed"]] = r["test_acc"]
  return out


def paired_rows(rows_by_opt: dict[str, list[dict]], cfg: Config) -> list[dict[str, Any]]:
  """Each scheme against ``cfg.reference`` on the same seeds, per optimizer
  (:func:`jaxinit.results.paired.paired_test` of the final test accuracies), with both p-values
  Holm-corrected over every test of the table (``p_t_holm``, ``p_sign_flip_holm``:
  :func:`jaxinit.results.stats.adjust_p`)."""
  out = []
  for opt, rows in rows_by_opt.items():
    ref = final_accuracy(rows, cfg.reference, cfg.seeds, cfg.epochs)
    for scheme in dict.fromkeys(r["scheme"] for r in rows):
      if scheme != cfg.reference:
        test = paired.paired_test(final_accuracy(rows, scheme, cfg.seeds, cfg.epochs), ref)
        out.append({"optimizer": opt, "scheme": scheme, "reference": cfg.reference, **test})
  for column in ("p_t", "p_sign_flip"):
    for row, p in zip(out, stats.adjust_p([r[column] for r in out], "holm"), strict=True):
      row[f"{column}_holm"] = float(p)
  return out


def csv_text(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
  """``rows`` as CSV text (quoted where a scheme name holds a comma), floats at full precision."""
  buf = io.StringIO()
  writer = csv.writer(buf, lineterminator="\n")
  writer.writerow(columns)
  for r in rows:
    writer.writerow([repr(float(r[c])) if isinstance(r[c], float) else r[c] for c in columns])
  return buf.getvalue()


PAIRED_COLUMNS = ("optimizer", "scheme", "reference", "n", "n_dropped", "mean", "std", "ci95_low",
                  "ci95_high", "t", "p_t", "p_sign_flip", "p_t_holm", "p_sign_flip_holm", "wins",
                  "losses", "ties")


def write_paired(folder: Path, rows: list[dict[str, Any]], cfg: Config) -> str:
  """Writes ``paired.csv`` (every column, full precision) and ``paired.md``; returns the caption."""
  folders.atomic_write(folder / "paired.csv", csv_text(PAIRED_COLUMNS, rows))
  caption = (f"Final (epoch {cfg.epochs}) test accuracy of each scheme minus {cfg.reference}'s on the "
             f"same seed (same initial random numbers and minibatch order), over n = "
             f"{cfg.seeds} seeds: mean difference in percentage points with its Student-t 95% CI, "
             "the paired t-test's two-sided p-value and the two-sided sign-flip permutation "
             f"p-value, each Holm-corrected over the table's {len(rows)} tests (uncorrected in "
             "paired.csv), and the seeds where the scheme is above / below / equal. The 95% CIs "
             "are not corrected.")
  md = ["| optimizer | scheme | Δ test_acc (pp) mean [95% CI] | t | p (t-test, Holm) "
        "| p (sign-flip, Holm) | above / below / equal |", "|:--|:--|--:|--:|--:|--:|--:|"]
  for r in rows:
    md.append(f"| {r['optimizer']} | {r['scheme']} | {100 * r['mean']:+.2f} "
              f"[{100 * r['ci95_low']:+.2f}, {100 * r['ci95_high']:+.2f}] | {r['t']:.2f} | "
              f"{r['p_t_holm']:.2g} | {r['p_sign_flip_holm']:.2g} | "
              f"{r['wins']} / {r['losses']} / {r['ties']} |")
  folders.atomic_write(folder / "paired.md", "\n".join(md) + f"\n\n{caption}\n")
  return caption


def curves(rows_by_opt: dict[str, list[dict]]) -> list[dict[str, Any]]:
  """Test accuracy per optimizer, scheme and epoch: ``n`` (members not diverged), mean and sample
  std over seeds."""
  out = []
  for opt, rows in rows_by_opt.items():
    for row in results.group([r for r in rows], ("scheme", "epoch"), ("test_acc",),
                             excluded=lambda r: bool(r["diverged"])):
      out.append({"optimizer": opt, "scheme": row["scheme"], "epoch": row["epoch"], "n": row["n"],
                  "test_acc_mean": row["test_acc_mean"], "test_acc_std": row["test_acc_std"]})
  return out


def learning_curves_figure(curve_rows: list[dict[str, Any]], cfg: Config) -> Figure:
  """One panel per optimizer: each scheme's mean test accuracy per epoch with a band of one std
  either side; zeros (far below) is left off the axis and stated in the caption."""
  opts = list(dict.fromkeys(r["optimizer"] for r in curve_rows))
  schemes = list(dict.fromkeys(r["scheme"] for r in curve_rows if r["scheme"] != "zeros"))
  colors = {s: f"C{i % 10}" for i, s in enumerate(schemes)}
  styles = {s: "--" if i >= 10 else "-" for i, s in enumerate(schemes)}
  import matplotlib as mpl
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(4.6 * len(opts) + 2.4, 4.2), layout="constrained")
    axes = fig.subplots(1, len(opts), squeeze=False, sharey=True)[0]
    for ax, opt in zip(axes, opts, strict=True):
      for s in schemes:
        pts = [r for r in curve_rows if r["optimizer"] == opt and r["scheme"] == s]
        if not pts:
          continue
        e = np.array([r["epoch"] for r in pts])
        m = 100 * np.array([r["test_acc_mean"] for r in pts])
        sd = 100 * np.nan_to_num(np.array([r["test_acc_std"] for r in pts]))
        ax.plot(e, m, styles[s], color=colors[s], lw=1.5, label=label(s))
        ax.fill_between(e, m - sd, m + sd, color=colors[s], alpha=0.15, lw=0)
      if opt == "adam":
        for s, acc in text_val_acc().items():
          if s in colors:
            n = min(len(acc), cfg.epochs)
            ax.plot(np.arange(1, n + 1), 100 * np.array(acc[:n]), "x", color=colors[s], ms=6)
      ax.set_title({"adam": f"Adam, lr {cfg.adam_lr:g}",
                    "momentum": f"SGD + momentum {cfg.momentum:g}, lr {cfg.momentum_lr:g}"}[opt])
      ax.set_xlabel("epoch")
      ax.set_xticks(range(1, cfg.epochs + 1))
      ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    vals = [100 * r["test_acc_mean"] for r in curve_rows if r["scheme"] != "zeros"]
    lo = max(0.0, min(vals) - 1.0) if vals else 0.0
    axes[0].set_ylim(lo, 100.0 if lo < 90 else 99.0)
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(mpl.lines.Line2D([], [], ls="", marker="x", color="0.3", ms=6))
    labels.append("text (one Keras run)")
    fig.legend(handles, labels, loc="outside right upper", fontsize=9)
  return fig


def final_figure(rows_by_opt: dict[str, list[dict]], cfg: Config) -> Figure:
  """Adam's final test accuracy per seed (dots) and mean (bar) per scheme, with the text's single
  Keras run (red cross) where the text has the scheme."""
  import matplotlib as mpl
  rows = rows_by_opt["adam"]
  schemes = [s for s in dict.fromkeys(r["scheme"] for r in rows) if s != "zeros"]
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for i, s in enumerate(schemes):
      acc = 100 * final_accuracy(rows, s, cfg.seeds, cfg.epochs)
      jitter = np.linspace(-0.2, 0.2, acc.size)
      ax.plot(i + jitter, acc, ".", color="0.45", ms=4)
      ax.plot([i - 0.3, i + 0.3], [np.nanmean(acc)] * 2, color="C0", lw=2)
      if s in (text := text_val_acc()) and cfg.epochs <= len(text[s]):
        ax.plot(i, 100 * text[s][cfg.epochs - 1], "x", color="C3", ms=9, mew=2)
    ax.set_xticks(range(len(schemes)))
    ax.set_xticklabels([label(s) for s in schemes], rotation=35, ha="right")
    ax.set_ylabel(f"test accuracy after epoch {cfg.epochs} (%)")
    ax.grid(axis="y", alpha=0.3)
  return fig


def text_comparison(rows: list[dict[str, Any]], cfg: Config) -> list[dict[str, Any]]:
  """The text's single run against our Adam seeds, per scheme and epoch: our mean and sample std,
  ``z = (text - mean) / std`` and the share of our seeds below the text's value. The first-layer-only
  reading (:data:`FIRST_LAYER_ONLY`) is compared with the text's random_uniform run."""
  text = text_val_acc()
  text[scheme_registry.get(FIRST_LAYER_ONLY).name] = text[scheme_registry.get("random_uniform").name]
  out = []
  for scheme, values in text.items():
    for epoch, value in enumerate(values[:cfg.epochs], start=1):
      acc = final_accuracy(rows, scheme, cfg.seeds, epoch)
      acc = acc[np.isfinite(acc)]
      if acc.size == 0:
        continue
      std = float(acc.std(ddof=1)) if acc.size > 1 else math.nan
      out.append({"scheme": scheme, "epoch": epoch, "text": value, "n": int(acc.size),
                  "mean": float(acc.mean()), "std": std,
                  "z": (value - float(acc.mean())) / std if std > 0 else math.nan,
                  "share_below_text": float(np.mean(acc < value))})
  return out


def write_text_comparison(folder: Path, rows: list[dict[str, Any]], cfg: Config) -> str:
  """``text_comparison.csv`` (every epoch) and ``.md`` (epochs 1 and last); returns the caption."""
  cols = ("scheme", "epoch", "text", "n", "mean", "std", "z", "share_below_text")
  folders.atomic_write(folder / "text_comparison.csv", csv_text(cols, rows))
  md = ["| scheme | epoch | text (%) | ours (%) mean ± std | z | our seeds below text |",
        "|:--|--:|--:|--:|--:|--:|"]
  for r in rows:
    if r["epoch"] in (1, cfg.epochs):
      below = round(r["share_below_text"] * r["n"])
      md.append(f"| {r['scheme']} | {r['epoch']} | {100 * r['text']:.2f} | {100 * r['mean']:.2f} ± "
                f"{100 * r['std']:.2f} | {r['z']:+.1f} | {below}/{r['n']} |".replace("+nan", "n/a"))
  caption = ("The text's test accuracy (one Keras run per scheme; its glorot_normal/he_normal are "
             "Keras 2's truncated normals) against our Adam runs at the same epoch: mean and sample "
             "std over seeds, z = (text - mean) / std, and how many of our seeds score below the "
             "text. The layers(...) row is the first-layer-only reading, compared with the text's "
             "random_uniform run.")
  folders.atomic_write(folder / "text_comparison.md", "\n".join(md) + f"\n\n{caption}\n")
  return caption


def zeros_analysis(results_by_opt: dict[str, sweep.SweepResult], rows_by_opt: dict[str, list[dict]],
                   y_train: np.ndarray, y_test: np.ndarray, cfg: Config) -> dict[str, Any]:
  """What the trained zeros networks compute and predict, checked on their final parameters.

  Returns:
    ``train_counts``, ``test_counts`` (per class), ``majority_class`` (the most frequent training
    class), ``chance_test`` / ``chance_train`` (its share of the test / training set), and per
    optimizer: ``max_abs_weight`` (largest |kernel entry| or hidden bias of any zeros member after
    training), ``predicted_class`` (argmax of the output bias, per seed),
    ``test_share_of_predicted`` / ``train_share_of_predicted`` (that class's share, per seed),
    ``softmax_bias_mean``
    (softmax of the output bias, mean over seeds, per class), ``max_abs_softmax_minus_freq``,
    ``test_acc`` / ``train_acc`` (recorded, per seed, final epoch).
  """
  train_counts = np.bincount(y_train, minlength=10)
  test_counts = np.bincount(y_test, minlength=10)
  major = int(np.argmax(train_counts))
  out: dict[str, Any] = {"train_counts": train_counts.tolist(), "test_counts": test_counts.tolist(),
                         "majority_class": major,
                         "chance_test": float(test_counts[major] / test_counts.sum()),
                         "chance_train": float(train_counts[major] / train_counts.sum())}
  freq = train_counts / train_counts.sum()
  for stage, res in results_by_opt.items():
    opt = optimizer(stage)
    members = json.loads(results.RunFolder(res.folder).members.read_text())
    idx = [m["member"] for m in members if m["scheme"] == "zeros"]
    if not idx:
      continue
    params = sweep.final_params(res.folder)
    layers = sorted(params)
    hidden = [np.asarray(params[k]["kernel"])[idx] for k in layers]
    hidden += [np.asarray(params[k]["bias"])[idx] for k in layers[:-1]]
    bias = np.asarray(params[layers[-1]]["bias"], np.float64)[idx]
    soft = np.exp(bias - bias.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    rows = rows_by_opt[opt]
    last = [r for r in rows if r["scheme"] == "zeros" and r["epoch"] == cfg.epochs]
    pred = np.argmax(bias, 1)
    out[opt] = {"max_abs_weight": float(max(np.abs(h).max() for h in hidden)),
                "predicted_class": pred.tolist(),
                "test_share_of_predicted": (test_counts[pred] / test_counts.sum()).tolist(),
                "train_share_of_predicted": (train_counts[pred] / train_counts.sum()).tolist(),
                "softmax_bias_mean": soft.mean(0).tolist(),
                "max_abs_softmax_minus_freq": float(np.abs(soft - freq).max()),
                "test_acc": [r["test_acc"] for r in sorted(last, key=lambda r: r["seed"])],
                "train_acc": [r["train_acc"] for r in sorted(last, key=lambda r: r["seed"])]}
  return out


def zeros_sentence(z: dict[str, Any]) -> str:
  """What the zeros networks predict and score, from :func:`zeros_analysis`'s numbers."""
  n_te = sum(z["test_counts"])
  parts = []
  for opt in (o for o in OPTIMIZERS if o in z):
    pred = z[opt]["predicted_class"]
    classes = sorted(set(pred))
    acc = sorted({round(100 * a, 2) for a in z[opt]["test_acc"]})
    parts.append(f"{opt}: all {len(pred)} predict class {classes[0]} for every image, test accuracy "
                 f"{acc[0]:.2f}%" if len(classes) == 1 else
                 f"{opt}: the {len(pred)} networks predict classes {classes} (one per network, for "
                 f"every image), test accuracies {', '.join(f'{a:.2f}' for a in acc)}%")
  major = z["majority_class"]
  return (f"The most frequent training class is {major} ({z['train_counts'][major]} images), "
          f"{z['test_counts'][major]}/{n_te} = {100 * z['chance_test']:.2f}% of the test set. "
          + "; ".join(parts) + ".")


def write_zeros_table(folder: Path, z: dict[str, Any]) -> str:
  """``zeros.md``: class counts and shares, and the zeros networks' softmax(output bias)."""
  opts = [o for o in OPTIMIZERS if o in z]
  n_tr, n_te = sum(z["train_counts"]), sum(z["test_counts"])
  md = ["| class | train count | train share | test count | test share | "
        + " | ".join(f"softmax(b_out) {o}" for o in opts) + " |", "|--:|" + "--:|" * (4 + len(opts))]
  for c in range(10):
    cells = [str(c), str(z["train_counts"][c]), f"{z['train_counts'][c] / n_tr:.4f}",
             str(z["test_counts"][c]), f"{z['test_counts'][c] / n_te:.4f}"]
    cells += [f"{z[o]['softmax_bias_mean'][c]:.4f}" for o in opts]
    md.append("| " + " | ".join(cells) + " |")
  caption = (f"MNIST class counts ({n_tr} train, {n_te} test images) and the trained zeros networks' "
             "output-bias softmax (mean over seeds), which is what they output for every input. "
             + zeros_sentence(z))
  folders.atomic_write(folder / "zeros.md", "\n".join(md) + f"\n\n{caption}\n")
  return caption


def main(argv: list[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  cfg = out.config
  data_dir = (str(write_subset(out.stage("data"), *cfg.subset)) if cfg.subset is not None
              else None)
  dataset = data.load("mnist", data_dir=data_dir, normalize=cfg.normalize)
  twin = (out.cached("twin", {"twin": cfg.twin, "seeds": cfg.seeds, "widths": cfg.widths},
                     lambda: twin_check(cfg, dataset.feature_shape)) if cfg.twin else None)
  res = {stage: out.sweep(stage, c, data_dir=data_dir, quiet=True, figures=False)
         for stage in STAGES if (c := sweep_config(cfg, stage)) is not None}
  rows_by_opt = merged_records(res)

  table = []
  for opt, rows in rows_by_opt.items():
    table += [{"optimizer": opt, **row} for row in results.summarize(rows, by=("scheme",))]
  setting = (f"MNIST ({data_dir or 'all 60000/10000 images'}; pixels / 255), MLP 784-"
             f"{'-'.join(map(str, cfg.widths))} ReLU, softmax cross-entropy, batch {cfg.batch_size}, "
             f"{cfg.epochs} epochs, each seed's own minibatch order; Adam lr {cfg.adam_lr:g}; SGD + "
             f"momentum {cfg.momentum:g} at lr {cfg.momentum_lr:g}.")
  out.table(table, "accuracy", by=("optimizer", "scheme"),
            metrics=("test_acc", "train_acc", "test_loss"), setting=setting)

  pairs = paired_rows(rows_by_opt, cfg)
  out.tables["paired"] = write_paired(out.folder, pairs, cfg)

  z = zeros_analysis(res, rows_by_opt, dataset.y_train, dataset.y_test, cfg)
  folders.write_json(out.folder / "zeros.json", z)
  out.tables["zeros"] = write_zeros_table(out.folder, z)

  comparison = text_comparison(rows_by_opt["adam"], cfg)
  out.tables["text_comparison"] = write_text_comparison(out.folder, comparison, cfg)

  curve_rows = curves(rows_by_opt)
  folders.atomic_write(out.folder / "learning_curves.csv", csv_text(
      ("optimizer", "scheme", "epoch", "n", "test_acc_mean", "test_acc_std"), curve_rows))
  out.figure(learning_curves_figure(curve_rows, cfg), "learning_curves",
             f"MNIST test accuracy after each epoch, mean over {cfg.seeds} seeds (line) and one "
             "sample std either side (band); x: the text's single Keras run (Adam). zeros is off "
             f"the axis. {zeros_sentence(z)}")
  out.figure(final_figure(rows_by_opt, cfg), "final_accuracy",
             f"Adam: test accuracy after epoch {cfg.epochs} of each seed (grey dots), their mean (blue "
             "bar) and the text's single Keras run (red x; its glorot_normal and he_normal are "
             "Keras 2's truncated normals). zeros is left out. " + zeros_sentence(z))

  by = {(r["optimizer"], r["scheme"]): r for r in table}
  ref = by[("adam", cfg.reference)]
  best = max((r for r in table if r["optimizer"] == "adam"), key=lambda r: r["test_acc_mean"])
  out.summary({
      "data": dataset.source,
      "twin_max_abs_diff": None if twin is None else float(twin["max_abs_diff"]),
      "adam_reference_test_acc_mean": ref["test_acc_mean"],
      "adam_reference_test_acc_std": ref["test_acc_std"],
      "adam_best_scheme": best["scheme"], "adam_best_test_acc_mean": best["test_acc_mean"],
      "adam_spread_of_scheme_means": max(r["test_acc_mean"] for r in table
                                         if r["optimizer"] == "adam" and r["scheme"] != "zeros")
      - min(r["test_acc_mean"] for r in table if r["optimizer"] == "adam" and r["scheme"] != "zeros"),
      "majority_class": z["majority_class"], "zeros_chance_test": z["chance_test"],
      "zeros_predicted_classes": {o: sorted(set(z[o]["predicted_class"])) for o in OPTIMIZERS
                                  if o in z},
      "zeros_test_acc": {o: z[o]["test_acc"][0] for o in OPTIMIZERS if o in z},
      "text_z_last_epoch": {r["scheme"]: r["z"] for r in comparison if r["epoch"] == cfg.epochs},
      "paired_significant_holm_p_t_below_0.05": [
          f"{p['optimizer']}:{p['scheme']}" for p in pairs
          if math.isfinite(p["p_t_holm"]) and p["p_t_holm"] < 0.05],
  })
  return 0


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
