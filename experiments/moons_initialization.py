"""Moons initialization: zeros, large random and He initialization of the tutorial's two-moons MLP,
over 64 seeds, next to jaxinit's default moons study; and why the tutorial's large-init numbers are
what they are.

Source: the tutorial "The Importance of Initialization in Deep Learning" (tinhnhatpham.github.io,
2022; /work/shared/sources/001_*.txt) and the numpy framework it imports (GitHub
tinhnhatpham/deep_neural_network_implementation: Initializer.py, Layer.py, Loss.py,
NeuralNetwork.py). It trains one network per initialization and reports train/test accuracy 50/50
(zeros), 85.99/82.99 (weights x10) and 95.39/94.66 (He), and a cost of 7.31 at the start of the x10
run.

Setup, the tutorial's (stage ``tutorial``): two moons, 400 train / 100 test points, noise 0.2, raw
coordinates (the tutorial does not standardize); MLP 2-12-6-1, ReLU, ReLU, sigmoid output; plain
full-batch gradient descent, lr 0.01, 15,000 steps; every bias zero. The tutorial hands its
initializer to the two hidden ``Dense`` layers only; the output layer keeps the framework's default
initializer, ``random_normal`` at scale 1, that is N(0, 1) kernels. So the schemes are
``layers(zeros, zeros, normal(stddev=1.0))``, ``layers(normal(stddev=10.0), normal(stddev=10.0),
normal(stddev=1.0))`` and ``layers(he_normal, he_normal, normal(stddev=1.0))`` (He: plain normal,
std sqrt(2 / fan_in), as the tutorial's code draws it although its text says truncated), 64 seeds
each, trained with jaxinit's cross-entropy. Stage ``default``: ``sweep.default_config("moons")``
(standardized inputs, SGD + momentum 0.9, lr 0.1, 300 epochs; zeros / normal(stddev=10.0) /
he_normal on every layer) with 64 seeds. Data: jaxinit's ``moons(seed=0)`` (its own generator, not
sklearn's random stream; the tutorial's draw is unseeded).

The tutorial's cost and accuracy (stage ``tutorial_loss``): its cost adds eps = 1e-5 inside both
logarithms of the cross-entropy (its zero-init cost, 0.6931271807599427, is -ln(0.5 + 1e-5), not
ln 2), which caps a point's loss at ln(1e5) = 11.51 and gives a confidently wrong point no
gradient; its accuracy is 100 (1 - mean |y - p|) on the probabilities p, not on thresholded
predictions (hence 85.99% on 400 points). Both are computed here on the trained networks (their
final parameters are read from the sweep's last checkpoint), and the large-init members of the first
32 seeds are trained again with that cost, to see whether it, not the initialization, makes the
tutorial's numbers.

    python -m experiments.moons_initialization            # 4 min CPU (23 min wall, shared 2 cores)
    python -m experiments.moons_initialization --tiny     # seconds, for the tests

Resumable: rerun the same command; finished stages are read back. A folder whose ``summary.json``
records the same config is finished and left as it is (delete that file to redraw).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib as mpl
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from jaxinit import data, results
from jaxinit.engine import population
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.results import plots
from jaxinit.studies import gallery, sweep

NAME = "moons_initialization"

TUTORIAL = {
    "zeros": {"train_acc": 50.0, "test_acc": 50.0},
    "large": {"train_acc": 85.99297141360952, "test_acc": 82.9904410614862},
    "he": {"train_acc": 95.39460913104666, "test_acc": 94.65618414215214},
}
"""The tutorial's printed accuracies (its own metric, in %), one network each."""
TUTORIAL_COST_EPOCHS = (0, *range(1000, 15000, 1000), 14999)
TUTORIAL_LARGE_COST = (7.312751029251156, 5.495101316884447, 5.469131904930106, 5.41242642347803,
                       5.354672944310919, 5.354224756932314, 5.354068636349012, 5.353951853501705,
                       5.334756089007781, 4.644965788626871, 4.638886338370908, 4.638203486132624,
                       4.637757703730385, 4.63741050583782, 4.63711588197088, 4.636862344557608)
"""The tutorial's printed cost of its x10 run at :data:`TUTORIAL_COST_EPOCHS`."""
KEYS = ("zeros", "large", "he")
LABELS = {"zeros": "zeros", "large": "N(0, 10²)", "he": "He"}


@dataclasses.dataclass(frozen=True)
class Config:
  """Every number that decides the results.

  Attributes:
    seeds: seeds per scheme in the tutorial's setup (one population).
    epochs: full-batch gradient-descent steps of the tutorial's setup.
    eval_every: epochs between evaluations (records, curves).
    lr: the tutorial's learning rate.
    widths: the MLP's layer widths (ReLU hidden layers, one sigmoid logit).
    hidden: the hidden layers' kernel initializer per scheme (zeros, large, He).
    readout: the output layer's kernel initializer in every scheme (the tutorial's default).
    eps: the constant the tutorial adds inside the logarithms of its cost.
    eps_seeds: large-init members retrained with the tutorial's cost (the first seeds).
    default_seeds: seeds per scheme of jaxinit's default study.
    default_epochs: its epochs; None keeps the default's (300).
    data_seed: the moons draw.
    grid: points per side of the decision-boundary grid.
  """

  seeds: int = 64
  epochs: int = 15000
  eval_every: int = 500
  lr: float = 0.01
  widths: tuple[int, ...] = (12, 6, 1)
  hidden: tuple[str, ...] = ("zeros", "normal(stddev=10.0)", "he_normal")
  readout: str = "normal(stddev=1.0)"
  eps: float = 1e-5
  eps_seeds: int = 32
  default_seeds: int = 64
  default_epochs: int | None = None
  data_seed: int = 0
  grid: int = 160

  def __post_init__(self) -> None:
    if self.epochs % self.eval_every:
      raise ValueError(f"epochs={self.epochs} is not a multiple of eval_every={self.eval_every}; "
                       "accepted: a multiple (the retraining evaluates at the same epochs)")
    if not 1 <= self.eps_seeds <= self.seeds:
      raise ValueError(f"eps_seeds={self.eps_seeds}; accepted: 1 to seeds={self.seeds}")


TINY = Config(seeds=3, epochs=400, eval_every=200, eps_seeds=2, default_seeds=3, default_epochs=2,
              grid=30)


def tutorial_schemes(cfg: Config) -> tuple[str, ...]:
  """The three schemes: ``layers(h, h, readout)`` for each hidden initializer ``h``."""
  return tuple(f"layers({h}, {h}, {cfg.readout})" for h in cfg.hidden)


def tutorial_sweep(cfg: Config) -> sweep.SweepConfig:
  return sweep.SweepConfig(
      data="moons", data_seed=cfg.data_seed, normalize="none",
      model=models.ModelConfig(widths=cfg.widths, activation="relu"),
      train=tr.TrainConfig(optimizer="sgd", batch_size=None, epochs=cfg.epochs,
                           eval_every=cfg.eval_every),
      schemes=tutorial_schemes(cfg), seeds=tuple(range(cfg.seeds)), lrs=(cfg.lr,))


def default_sweep(cfg: Config) -> sweep.SweepConfig:
  base = sweep.default_config("moons")
  train = (base.train if cfg.default_epochs is None
           else dataclasses.replace(base.train, epochs=cfg.default_epochs))
  return dataclasses.replace(base, data_seed=cfg.data_seed, seeds=tuple(range(cfg.default_seeds)),
                             train=train)


def tutorial_metrics(logits_MN: np.ndarray, y_N: np.ndarray, eps: float) -> dict[str, np.ndarray]:
  """The tutorial's cost and accuracy next to jaxinit's, per member, in float64 (as its numpy).

  Args:
    logits_MN: the networks' logits, ``(M, N)``.
    y_N: labels in {0, 1}, ``(N,)``.
    eps: the constant added inside both logarithms of the tutorial's cost.

  Returns:
    ``(M,)`` arrays: ``cost`` (the tutorial's: mean of ``-y ln(p + eps) - (1 - y) ln(1 - p + eps)``,
    at most ``ln(1 + 1/eps)`` per point), ``bce`` (the exact sigmoid cross-entropy jaxinit trains
    and records), ``soft_acc`` (the tutorial's: ``1 - mean |y - p|``) and ``acc`` (the fraction
    with ``logit > 0`` equal to ``y = 1``), the accuracies as fractions.
  """
  z, y = np.asarray(logits_MN, np.float64), np.asarray(y_N, np.float64)
  p = 0.5 + 0.5 * np.tanh(z / 2)  # the sigmoid without overflow
  cost = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps), axis=-1)
  bce = np.mean(np.logaddexp(0.0, z) - y * z, axis=-1)
  return {"cost": cost, "bce": bce, "soft_acc": 1 - np.mean(np.abs(y - p), axis=-1),
          "acc": np.mean((z > 0) == (y == 1), axis=-1)}


def soft_acc_bound(cost: float, eps: float) -> float:
  """The largest tutorial accuracy (a fraction) of any network whose tutorial cost is ``cost``.

  A point's cost is ``l(d) = -ln(1 - d + eps)`` with ``d = |y - p|``, convex in ``d``, so it lies
  under its chord: ``l(d) <= -ln(1 + eps) + d ln(1 + 1/eps)``. Averaging over the points,
  ``mean d >= (cost + ln(1 + eps)) / ln(1 + 1/eps)``, and the accuracy ``1 - mean d`` is at most one
  minus that.
  """
  return 1 - (cost + math.log1p(eps)) / math.log1p(1 / eps)


@functools.lru_cache(maxsize=4)
def _logits_program(model_cfg: models.ModelConfig) -> Any:
  model = models.build(model_cfg)
  return jax.jit(jax.vmap(lambda p, x: model.apply({"params": p}, x)[:, 0], in_axes=(0, None)))


def logits(model_cfg: models.ModelConfig, params_M: Any, x_NF: np.ndarray) -> np.ndarray:
  """Every member's logit on every point, ``(M, N)`` float32, from stacked params ``(M, ...)``."""
  return np.asarray(_logits_program(model_cfg)(params_M, jnp.asarray(x_NF, jnp.float32)))


@functools.lru_cache(maxsize=4)
def _dead_program(model_cfg: models.ModelConfig) -> Any:
  model = models.build(model_cfg)
  last = f"act_{len(model_cfg.widths) - 2}"

  def dead(params: Any, x: jax.Array) -> jax.Array:
    act = models.logits_and_intermediates(model, {"params": params}, x)[1][last]
    return jnp.sum(jnp.all(act == 0, axis=0))

  return jax.jit(jax.vmap(dead, in_axes=(0, None)))


def dead_units(model_cfg: models.ModelConfig, params_M: Any, x_NF: np.ndarray) -> np.ndarray:
  """Per member, the units of the last hidden layer that are zero on every point of ``x_NF``
  (dead ReLUs), ``(M,)`` int."""
  return np.asarray(_dead_program(model_cfg)(params_M, jnp.asarray(x_NF, jnp.float32)))


def boundary_grid(cfg: Config, dataset: data.Dataset) -> tuple[np.ndarray, np.ndarray]:
  """The decision-boundary grid in raw coordinates, ``gx`` and ``gy`` ``(H, W)``: the data's range
  (both splits) and 0.5 more on each side."""
  xy = np.concatenate([dataset.x_train, dataset.x_test]) * dataset.std + dataset.mean
  lo, hi = xy.min(0) - 0.5, xy.max(0) + 0.5
  return np.meshgrid(np.linspace(lo[0], hi[0], cfg.grid), np.linspace(lo[1], hi[1], cfg.grid))


def network_metrics(cfg: Config, result: sweep.SweepResult, dataset: data.Dataset,
                    gx: np.ndarray, gy: np.ndarray) -> dict[str, np.ndarray]:
  """A sweep's members at init and after training, under the tutorial's and jaxinit's metrics, and
  its decision boundaries.

  Returns:
    ``<when>_<split>_<field>`` ``(M,)`` for ``when`` in (init, final), ``split`` in (train, test)
    and each :func:`tutorial_metrics` field; ``<when>_dead`` ``(M,)``, the last hidden layer's
    units dead on the whole train set (:func:`dead_units`); and per scheme (config order) on the
    raw-coordinate grid ``gx, gy``: ``frac`` ``(S, H, W)``, the fraction of its trained members
    predicting class 1, and ``seed0`` ``(S, H, W)``, its seed-0 member's p(class 1).
  """
  config = sweep.load_config(result.record["config"])
  members = config.members()
  n_train, n_test = len(dataset.y_train), len(dataset.y_test)
  grid = (np.stack([gx.ravel(), gy.ravel()], 1) - dataset.mean) / dataset.std  # as the model sees
  points = np.concatenate([dataset.x_train, dataset.x_test, grid])  # one compiled shape for both
  out = {}
  start = population.init_params(config.model, members, dataset.feature_shape)["params"]
  for when, params in (("init", start), ("final", sweep.final_params(result.folder))):
    out[f"{when}_dead"] = dead_units(config.model, params, dataset.x_train)
    z = logits(config.model, params, points)
    for split, part in (("train", z[:, :n_train]), ("test", z[:, n_train:n_train + n_test])):
      for k, v in tutorial_metrics(part, getattr(dataset, f"y_{split}"), cfg.eps).items():
        out[f"{when}_{split}_{k}"] = v
  z = z[:, n_train + n_test:].astype(np.float64)
  frac, seed0 = [], []
  for scheme in dict.fromkeys(m.scheme for m in members):
    idx = [k for k, m in enumerate(members) if m.scheme == scheme]
    frac.append(np.mean(z[idx] > 0, axis=0).reshape(gx.shape))
    first = next(k for k in idx if members[k].seed == 0)
    seed0.append((0.5 + 0.5 * np.tanh(z[first] / 2)).reshape(gx.shape))
  return {**out, "frac": np.stack(frac), "seed0": np.stack(seed0)}


def train_tutorial_cost(cfg: Config, config: sweep.SweepConfig, index: Sequence[int],
                        dataset: data.Dataset) -> dict[str, np.ndarray]:
  """Trains the sweep's members ``index`` as the tutorial does: plain full-batch gradient descent
  on its cost (eps inside the logarithms), lr and steps as the sweep, from the same initial
  parameters as the sweep's members.

  Returns:
    ``epochs`` ``(E,)`` (0, then every ``eval_every``) and ``<split>_<field>`` ``(K, E)`` for
    ``split`` in (train, test) and each :func:`tutorial_metrics` field, ``K = len(index)``.
  """
  model = models.build(config.model)
  x, y = jnp.asarray(dataset.x_train), jnp.asarray(dataset.y_train, jnp.float32)
  eps, lr, n_train = cfg.eps, cfg.lr, len(dataset.y_train)
  points = np.concatenate([dataset.x_train, dataset.x_test])

  def cost(params: Any) -> jax.Array:
    p = jax.nn.sigmoid(model.apply({"params": params}, x)[:, 0])
    return -jnp.mean(y * jnp.log(p + eps) + (1 - y) * jnp.log(1 - p + eps))

  def step(params: Any, _: Any) -> tuple[Any, None]:
    return jax.tree.map(lambda w, g: w - lr * g, params, jax.grad(cost)(params)), None

  block = jax.jit(jax.vmap(lambda p: jax.lax.scan(step, p, None, length=cfg.eval_every)[0]))
  start = population.init_params(config.model, config.members(), dataset.feature_shape)["params"]
  params = jax.tree.map(lambda a: a[np.asarray(index)], start)
  epochs, found = [], {}
  for epoch in range(0, cfg.epochs + 1, cfg.eval_every):
    if epoch:
      params = block(params)
    epochs.append(epoch)
    z = logits(config.model, params, points)
    for split, part in (("train", z[:, :n_train]), ("test", z[:, n_train:])):
      for k, v in tutorial_metrics(part, getattr(dataset, f"y_{split}"), eps).items():
        found.setdefault(f"{split}_{k}", []).append(v)
  return {"epochs": np.array(epochs), **{k: np.stack(v, 1) for k, v in found.items()}}


def curves(rows: Sequence[dict[str, Any]], metric: str, keep: Any) -> tuple[np.ndarray, np.ndarray]:
  """``(epochs (E,), values (K, E))`` of ``metric`` for the records' members with ``keep(row)``,
  members in index order."""
  table: dict[int, dict[int, float]] = {}
  for r in rows:
    if keep(r):
      table.setdefault(r["member"], {})[r["epoch"]] = r[metric]
  epochs = np.array(sorted({e for v in table.values() for e in v}))
  return epochs, np.array([[table[m][e] for e in epochs] for m in sorted(table)], np.float64)


def _band(ax: Any, x: np.ndarray, values: np.ndarray, colour: str, label: str, ls: str = "-") -> None:
  """The mean over rows of ``values`` ``(K, E)`` and a band of one sample std either side."""
  mean = values.mean(0)
  std = values.std(0, ddof=1) if len(values) > 1 else np.zeros_like(mean)
  ax.plot(x, mean, color=colour, ls=ls, lw=1.6, label=label)
  ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.2, lw=0)


def _panels(fig: Figure, nrow: int, ncol: int, **share: Any) -> tuple[np.ndarray, Any]:
  """An ``(nrow, ncol)`` array of axes and, under them, a frameless axes spanning the width for
  the legend (so that it covers no data and the panels keep equal widths)."""
  grid = fig.add_gridspec(nrow + 1, ncol, height_ratios=[1.0] * nrow + [0.12])
  axes = np.empty((nrow, ncol), dtype=object)
  for i in range(nrow):
    for j in range(ncol):
      axes[i, j] = fig.add_subplot(grid[i, j], **{k: axes[0, 0] if i or j else None
                                                  for k, on in share.items() if on})
  legend_ax = fig.add_subplot(grid[nrow, :])
  legend_ax.axis("off")
  return axes, legend_ax


def loss_curve_figure(setups: Sequence[tuple[str, list[dict[str, Any]], Sequence[str]]]) -> Figure:
  """One row per (title, records, schemes): train loss and test accuracy against epoch,
  each scheme's mean over its seeds with a band of one sample std."""
  metrics = (("train_loss", "train loss (nats)"), ("test_acc", "test accuracy (fraction)"))
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(10.0, 3.2 * len(setups) + 0.7), layout="constrained")
    axes, legend_ax = _panels(fig, len(setups), len(metrics))
    for row, (title, rows, schemes) in zip(axes, setups, strict=True):
      for ax, (metric, label) in zip(row, metrics, strict=True):
        for j, scheme in enumerate(schemes):
          epochs, values = curves(rows, metric, lambda r, s=scheme: r["scheme"] == s)
          _band(ax, epochs, values, f"C{j}", LABELS[KEYS[j]])
        if metric.endswith("loss"):
          ax.set_yscale("log")
          ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
          ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
        ax.set_xlabel("epoch (full-batch steps)")
        ax.set_ylabel(label)
        ax.set_title(title, fontsize=10)
    legend_ax.legend(*axes[0, 0].get_legend_handles_labels(), loc="center", ncol=3,
                     title="mean ± std over seeds")
  return fig


def boundary_figure(gx: np.ndarray, gy: np.ndarray, panels: Sequence[tuple[np.ndarray, np.ndarray,
                                                                            str]],
                    dataset: data.Dataset, ncol: int = 3) -> Figure:
  """One panel per (fraction of seeds predicting class 1, seed 0's p, title), over the test
  points in raw coordinates. A seed 0 whose p is 0.5 to 1e-6 everywhere (the zeros init) gets a
  note instead of a boundary."""
  x = dataset.x_test * dataset.std + dataset.mean
  nrow = math.ceil(len(panels) / ncol)
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(3.9 * ncol + 1.0, 3.4 * nrow + 0.6), layout="constrained")
    axes, legend_ax = _panels(fig, nrow, ncol, sharex=True, sharey=True)
    filled = None
    for ax, (frac, seed0, title) in zip(axes.ravel(), panels, strict=True):
      filled = ax.contourf(gx, gy, frac, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.75)
      if seed0.min() < 0.5 < seed0.max() and seed0.max() - seed0.min() > 1e-6:
        ax.contour(gx, gy, seed0, levels=[0.5], colors="k", linewidths=1.2)
      else:
        ax.text(0.03, 0.03, f"p - 0.5 in [{seed0.min() - 0.5:.1e}, {seed0.max() - 0.5:.1e}]",
                transform=ax.transAxes, fontsize=8, bbox={"fc": "w", "ec": "none", "alpha": 0.8})
      for label, colour in ((0, "C0"), (1, "C3")):
        pts = x[dataset.y_test == label]
        ax.scatter(pts[:, 0], pts[:, 1], s=10, c=colour, edgecolors="k", linewidths=0.4,
                   label=f"test points, class {label}")
      ax.set_title(title, fontsize=9)
      ax.label_outer()
    for ax in axes[-1]:
      ax.set_xlabel("x1 (raw moons coordinate)")
    for ax in axes[:, 0]:
      ax.set_ylabel("x2 (raw moons coordinate)")
    fig.colorbar(filled, ax=list(axes.ravel()), label="fraction of seeds predicting class 1",
                 shrink=0.8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles.append(mpl.lines.Line2D([], [], color="k", lw=1.2))
    labels.append("seed 0's boundary p = 0.5")
    legend_ax.legend(handles, labels, loc="center", ncol=3)
  return fig


def tutorial_cost_figure(cfg: Config, retrained: dict[str, np.ndarray],
                         bce_acc: tuple[np.ndarray, np.ndarray], nets: dict[str, np.ndarray],
                         large: np.ndarray) -> Figure:
  """Three panels on the N(0, 10²) members: the tutorial's cost while training on it; their train
  accuracy trained on either loss; final cost against the tutorial's accuracy, with its bound."""
  ep = retrained["epochs"]
  with mpl.rc_context(plots.STYLE):
    fig = Figure(figsize=(15.0, 4.6), layout="constrained")
    a, b, c = fig.subplots(1, 3)
    _band(a, ep, retrained["train_cost"], "C1", "trained on the tutorial's cost")
    a.plot(TUTORIAL_COST_EPOCHS, TUTORIAL_LARGE_COST, "k*", ms=7, label="the tutorial's x10 run")
    a.axhline(math.log1p(1 / cfg.eps), color="0.5", ls=":", lw=1, label="cap ln(1 + 1/eps)")
    a.set_xlabel("epoch (full-batch steps)")
    a.set_ylabel("tutorial's cost, train (nats)")
    a.set_ylim(0, 12.5)
    _band(b, *bce_acc, "C0", "trained on cross-entropy (jaxinit)")
    _band(b, ep, retrained["train_acc"], "C1", "trained on the tutorial's cost")
    _band(b, ep, retrained["train_soft_acc"], "C1", "same, tutorial's accuracy 1 - mean|y - p|",
          "--")
    b.axhline(TUTORIAL["large"]["train_acc"] / 100, color="k", ls=":", lw=1,
              label="the tutorial's x10 run (its accuracy)")
    b.set_xlabel("epoch (full-batch steps)")
    b.set_ylabel("train accuracy (fraction)")
    cost = np.linspace(0, math.log1p(1 / cfg.eps), 50)
    c.plot(cost, [soft_acc_bound(v, cfg.eps) for v in cost], color="0.4", lw=1,
           label="largest possible for the cost (chord bound)")
    c.scatter(nets["final_train_cost"][large], nets["final_train_soft_acc"][large], s=14,
              color="C0", label="trained on cross-entropy")
    c.scatter(retrained["train_cost"][:, -1], retrained["train_soft_acc"][:, -1], s=14,
              color="C1", label="trained on the tutorial's cost")
    c.plot([TUTORIAL_LARGE_COST[-1]], [TUTORIAL["large"]["train_acc"] / 100], "k*", ms=10,
           label="the tutorial's x10 run (printed)")
    c.set_xlabel("tutorial's cost after training, train (nats)")
    c.set_ylabel("tutorial's accuracy 1 - mean|y - p|, train")
    for ax in (a, b, c):
      ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), fontsize=8.5)
  return fig


TABLE_FIELDS = ("init_cost", "final_cost", "final_bce", "train_soft_acc", "test_soft_acc",
                "train_acc", "test_acc")
"""The tutorial-metric table's columns (the train split's unless named test)."""


def sweep_fields(nets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """:data:`TABLE_FIELDS` of the sweep's members, ``(M,)`` each, from :func:`network_metrics`."""
  return {"init_cost": nets["init_train_cost"], "final_cost": nets["final_train_cost"],
          "final_bce": nets["final_train_bce"], "train_soft_acc": nets["final_train_soft_acc"],
          "test_soft_acc": nets["final_test_soft_acc"], "train_acc": nets["final_train_acc"],
          "test_acc": nets["final_test_acc"]}


def retrained_fields(retrained: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """:data:`TABLE_FIELDS` of the retrained members, ``(K,)`` each, from :func:`train_tutorial_cost`."""
  first, last = (lambda k: retrained[k][:, 0]), (lambda k: retrained[k][:, -1])
  return {"init_cost": first("train_cost"), "final_cost": last("train_cost"),
          "final_bce": last("train_bce"), "train_soft_acc": last("train_soft_acc"),
          "test_soft_acc": last("test_soft_acc"), "train_acc": last("train_acc"),
          "test_acc": last("test_acc")}


def member_rows(trained_with: str, schemes: Sequence[str], fields: dict[str, np.ndarray],
                epoch: int, start: int = 0) -> list[dict[str, Any]]:
  """One record per member (ids from ``start``) of the tutorial-metric table, in the shape
  :func:`jaxinit.results.summarize` reads; ``epoch``: the one the final metrics are after (the
  table's caption says it; ``init_cost`` is before the first)."""
  return [{"member": start + k, "epoch": epoch, "trained_with": trained_with, "scheme": scheme,
           "diverged": False, **{f: float(fields[f][k]) for f in TABLE_FIELDS}}
          for k, scheme in enumerate(schemes)]


def main(argv: list[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  cfg = out.config
  if out.finished():
    return 0
  quiet = {"quiet": True, "figures": False}

  tut_cfg, def_cfg = tutorial_sweep(cfg), default_sweep(cfg)
  tut = out.sweep("tutorial", tut_cfg, **quiet)
  dflt = out.sweep("default", def_cfg, **quiet)
  tut_data = data.load("moons", seed=tut_cfg.data_seed, normalize=tut_cfg.normalize)
  def_data = data.load("moons", seed=def_cfg.data_seed, normalize=def_cfg.normalize)
  members = tut_cfg.members()
  schemes = list(dict.fromkeys(m.scheme for m in members))  # canonical, in config order
  def_schemes = list(dict.fromkeys(m.scheme for m in def_cfg.members()))
  large = np.array([m.scheme == schemes[1] for m in members])
  retrain = [k for k, m in enumerate(members) if large[k] and m.seed < cfg.eps_seeds]
  key = {"config": dataclasses.asdict(cfg), "tutorial": tut_cfg.to_json(),
         "default": def_cfg.to_json()}

  gx, gy = boundary_grid(cfg, tut_data)
  nets = out.cached("networks_tutorial", key,
                    lambda: network_metrics(cfg, tut, tut_data, gx, gy))
  def_nets = out.cached("networks_default", key,
                        lambda: network_metrics(cfg, dflt, def_data, gx, gy))
  retrained = out.cached("tutorial_loss", key,
                         lambda: train_tutorial_cost(cfg, tut_cfg, retrain, tut_data))

  # Tables: jaxinit's metrics of both setups, then the tutorial's metrics of the tutorial setup.
  rows = [{"setup": "tutorial", **r} for r in tut.table]
  rows += [{"setup": "jaxinit default", **r} for r in dflt.table]
  out.table(rows, "accuracy", by=("setup", "scheme"),
            metrics=("train_acc", "test_acc", "train_loss", "test_loss"),
            setting=(f"Tutorial rows: {sweep.setting(tut_cfg)} Default rows: "
                     f"{sweep.setting(def_cfg)} Losses: the exact sigmoid cross-entropy (nats); "
                     "accuracy: p > 0.5 against the label."))
  fields = retrained_fields(retrained)
  metric_rows = member_rows("cross-entropy (jaxinit)", [m.scheme for m in members],
                            sweep_fields(nets), cfg.epochs)
  metric_rows += member_rows(f"tutorial's cost (eps={cfg.eps:g})", [schemes[1]] * len(retrain),
                             fields, cfg.epochs, start=len(members))
  out.table(results.summarize(metric_rows, by=("trained_with", "scheme"), metrics=TABLE_FIELDS),
            "tutorial_metrics", by=("trained_with", "scheme"), metrics=TABLE_FIELDS,
            setting=(f"The tutorial setup's networks under the tutorial's definitions: cost = mean of "
                     f"-y ln(p + {cfg.eps:g}) - (1 - y) ln(1 - p + {cfg.eps:g}) over the train set "
                     "(nats), at init and after training; final_bce: the exact cross-entropy; "
                     "*_soft_acc: 1 - mean |y - p| (the tutorial's accuracy); *_acc: p > 0.5. Rows "
                     f"'tutorial's cost': the N(0, 10²) members of seeds 0 to {cfg.eps_seeds - 1} "
                     f"trained again from the same initial parameters by full-batch gradient descent "
                     f"(lr {cfg.lr:g}, {cfg.epochs} steps) on the tutorial's cost."))

  # Figures.
  tut_rows = results.read_records(results.RunFolder(tut.folder).records)
  def_rows = results.read_records(results.RunFolder(dflt.folder).records)
  band = "bands: mean ± 1 sample std over seeds"
  out.figure(loss_curve_figure([("tutorial setup", tut_rows, schemes),
                                ("jaxinit default setup", def_rows, def_schemes)]),
             "loss_curves",
             f"Exact cross-entropy and accuracy (p > 0.5) of the tutorial setup ({cfg.seeds} seeds "
             f"per scheme) and jaxinit's default moons study ({cfg.default_seeds} seeds); lines: "
             f"means over seeds; {band}.")
  by_scheme = {name: {r["scheme"]: r for r in t} for name, t in (("tutorial", tut.table),
                                                                ("default", dflt.table))}
  panels = []
  for name, sch, found in (("tutorial", schemes, nets), ("default", def_schemes, def_nets)):
    for k, scheme in enumerate(sch):
      r = by_scheme[name][scheme]
      panels.append((found["frac"][k], found["seed0"][k],
                     f"{name}: {LABELS[KEYS[k]]}, test acc {100 * r['test_acc_mean']:.1f}% "
                     f"(mean of {r['n']})"))
  out.figure(boundary_figure(gx, gy, panels, tut_data), "decision_boundaries",
             f"Colour: fraction of the seeds ({cfg.seeds}, {cfg.default_seeds}) predicting class 1; "
             "black: seed 0's boundary p = 0.5 (or, where its p is 0.5 up to rounding everywhere, "
             "its range); dots: the 100 test points.")
  bce_acc = curves(tut_rows, "train_acc", lambda r: r["member"] in set(retrain))
  out.figure(tutorial_cost_figure(cfg, retrained, bce_acc, nets, large), "tutorial_cost",
             f"N(0, 10²) hidden kernels, tutorial setup, seeds 0 to {cfg.eps_seeds - 1}: trained "
             "on the tutorial's cost (orange) or on cross-entropy (blue); stars: the tutorial's "
             f"printed numbers; {band}; right: one dot per network, grey: the bound.")

  # Headline.
  head: dict[str, Any] = {"data": {"tutorial": tut_data.source, "default": def_data.source}}
  for name, table in (("tutorial", tut.table), ("default", dflt.table)):
    for k, r in zip(KEYS, table, strict=True):
      for metric in ("train_acc", "test_acc", "train_loss"):
        head[f"{name}_{k}_{metric}_mean"] = r[f"{metric}_mean"]
        head[f"{name}_{k}_{metric}_std"] = r[f"{metric}_std"]
  for k, scheme in zip(KEYS, schemes, strict=True):
    sel = np.array([m.scheme == scheme for m in members])
    for f in ("init_train_cost", "init_train_bce", "final_train_cost", "final_train_soft_acc",
              "final_test_soft_acc"):
      head[f"tutorial_{k}_{f}_mean"] = float(nets[f][sel].mean())
  for name, found, sch in (("tutorial", nets, schemes), ("default", def_nets, def_schemes)):
    all_schemes = [m.scheme for m in (members if name == "tutorial" else def_cfg.members())]
    for k, scheme in zip(KEYS, sch, strict=True):
      dead = found["final_dead"][np.array([s == scheme for s in all_schemes])]
      head[f"{name}_{k}_final_dead_last_hidden_mean"] = float(dead.mean())
      head[f"{name}_{k}_members_with_all_last_hidden_dead"] = int(np.sum(dead == cfg.widths[-2]))
  for f, v in fields.items():
    head[f"retrained_large_{f}_mean"] = float(np.mean(v))
    head[f"retrained_large_{f}_std"] = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
  head["tutorial_large_reported"] = {"init_cost": TUTORIAL_LARGE_COST[0],
                                     "final_cost": TUTORIAL_LARGE_COST[-1], **TUTORIAL["large"]}
  head["tutorial_large_reported_max_train_acc_for_its_cost"] = 100 * soft_acc_bound(
      TUTORIAL_LARGE_COST[-1], cfg.eps)
  out.summary(head)
  return 0


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
