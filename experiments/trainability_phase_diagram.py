"""Trainability phase diagram: how deep can a tanh network be and still train, as a function of the
weight variance sigma_w^2?

Question: Schoenholz, Gilmer, Ganguli & Sohl-Dickstein, *Deep Information Propagation* (ICLR 2017)
show that a random tanh network carries the correlation of two inputs over about ``xi_c`` layers,
``xi_c = -1/log chi_c`` with ``chi_c`` the slope of the correlation map at its fixed point ``c*``
(``c* = 1`` in the ordered phase, ``c* < 1`` in the chaotic one), which diverges at the edge of
chaos ``chi_1 = 1``; networks deeper than about ``6 xi_c`` do not train. Does a short training of a
whole grid of networks reproduce their heat map of accuracy with the ``6 xi_c`` curve on top?

Setup: tanh MLPs of width 100 and depth ``L`` (hidden layers; a linear readout of 10 logits
follows), weights ``N(0, sigma_w^2 / fan_in)`` and biases ``N(0, sigma_b^2)``, ``sigma_b^2 =
0.05`` as in the paper (scheme ``layers(variance_scaling(scale=1.0, mode=fan_in,
distribution=normal), bias=normal(stddev=sqrt(0.05)))``; ``sigma_w`` is the population's
``scale`` axis, which multiplies every kernel). Grid: ``sigma_w^2`` in 1..4 (step 0.25) x 2 seeds
= 26 networks per depth, trained by ONE compiled program per depth (vmapped over the model axis),
depths 10..100. Training: SGD with momentum 0.9, lr 0.001, batch 32, one pass over the first 6,400
MNIST training images (200 steps); accuracy on the first 2,000 test images. (At lr 0.01 every
network deeper than 30 layers, critical ones included, collapsed to one predicted class: measured,
see the gallery.) Theory:
``theory.fixed_point`` (``K*``), ``theory.correlation_fixed_point`` (``c*``) and ``chi_c = sigma_w^2
E[tanh'(z1) tanh'(z2)]`` at ``c*`` (``theory.bivariate_expectation``), ``chi_1`` at ``c* = 1``.

Where it differs from the paper and why: the paper trains deeper networks for far longer on all
of MNIST (and on CIFAR-10), with SGD and RMSProp; a 2-core CPU affords
width 100, depth <= 100, 200 steps on a 6,400-image subset, and 2 seeds, so the trainable band is
the set of networks that learn *quickly*, and the accuracy scale is that of 200 steps. The sweep
stage of ``jaxinit.studies.sweep`` evaluates on the whole of MNIST after each epoch (70,000 forward
passes per network: longer than the training itself here), so each depth is trained by
``jaxinit.engine.train.run`` on the subset and stored with ``Output.cached`` (resumable per depth).

    python -m experiments.trainability_phase_diagram           # 594 s on a busy 2-core CPU
    python -m experiments.trainability_phase_diagram --tiny    # seconds

Data: MNIST from the IDX files in ``$JAXINIT_DATA_DIR`` (verified against the published set; the
source is written in ``summary.json``), standardized with the training set's mean and std.
Outputs: ``phase_diagram`` (the heat map with ``6 xi_c``), the table ``accuracy`` (per depth x
sigma_w^2), ``summary.json`` (networks trained, compiled programs, wall time).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Sequence

import jax
import numpy as np
from matplotlib.figure import Figure

from jaxinit import activations, data, results, theory
from jaxinit.engine import compilation, population
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.studies import gallery

NAME = "trainability_phase_diagram"
SCHEME = "layers(variance_scaling(scale=1.0, mode=fan_in, distribution=normal), bias=normal(stddev={}))"
CHANCE = 0.1


@dataclasses.dataclass(frozen=True)
class Config:
  """Every number that decides the results.

  Attributes:
    sigma_w2: the weight variances ``sigma_w^2`` (``C_W``); member scale ``sqrt(sigma_w^2)``.
    sigma_b2: the bias variance ``sigma_b^2`` (``C_b``), the same in every layer.
    depths: numbers of hidden tanh layers (a linear readout to 10 logits follows each network).
    width: hidden width.
    seeds: seeds per grid point (``0..seeds-1``; a seed decides the weights and nothing else:
      the minibatch order is shared).
    n_train, n_test: the first ``n_train`` MNIST training and ``n_test`` test images.
    batch_size, epochs: the training passes (``epochs * n_train / batch_size`` SGD steps).
    optimizer, lr, momentum: the optimizer (``jaxinit.engine.optimizers``) and its constants.
    theory_points: ``sigma_w^2`` values at which the ``6 xi_c`` curve is computed (evenly over
      the plotted range).
  """

  sigma_w2: tuple[float, ...] = tuple(float(v) for v in np.arange(1.0, 4.01, 0.25))
  sigma_b2: float = 0.05
  depths: tuple[int, ...] = (10, 20, 30, 50, 70, 100)
  width: int = 100
  seeds: int = 2
  n_train: int = 6400
  n_test: int = 2000
  batch_size: int = 32
  epochs: int = 1
  optimizer: str = "momentum"
  lr: float = 0.001
  momentum: float = 0.9
  theory_points: int = 61


TINY = Config(sigma_w2=(0.25, 1.75), depths=(6,), width=16, n_train=256, n_test=128, lr=0.01,
              theory_points=6)


def scheme(cfg: Config) -> str:
  """The population's scheme: ``C_W = 1`` kernels (scaled by ``sigma_w``), ``C_b`` biases."""
  return SCHEME.format(math.sqrt(cfg.sigma_b2))


def members(cfg: Config) -> tuple[population.Member, ...]:
  """``sigma_w^2``-major then seed: member ``k`` has ``sigma_w^2 = cfg.sigma_w2[k // seeds]``."""
  return population.grid([scheme(cfg)], range(cfg.seeds), lrs=(cfg.lr,), momenta=(cfg.momentum,),
                         scales=tuple(math.sqrt(s) for s in cfg.sigma_w2))


@functools.lru_cache(maxsize=4)
def dataset(cfg: Config) -> data.Dataset:
  """The MNIST subset (``$JAXINIT_DATA_DIR`` or the loader's default folder)."""
  return data.load("mnist").subset(cfg.n_train, cfg.n_test)


def train_depth(cfg: Config, depth: int) -> dict[str, np.ndarray]:
  """Trains the whole ``sigma_w^2 x seed`` population of one depth in one compiled program.

  Returns:
    ``metrics`` ``(M, 4)`` (:data:`jaxinit.engine.train.METRICS` after the last epoch; NaN for a diverged
    member), ``diverged`` ``(M,)`` bool, ``sigma_w2`` and ``seed`` ``(M,)``, ``compilations`` (the
    XLA compilations JAX logged) and ``wall_s``.
  """
  model = models.ModelConfig(widths=(cfg.width,) * depth + (10,), activation="tanh")
  train_cfg = tr.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer=cfg.optimizer,
                             eval_every=cfg.epochs)
  pop = members(cfg)
  device = tr.device_data(dataset(cfg))
  start = time.perf_counter()
  with compilation.log() as compiled:
    for _, state, metrics_M4 in tr.run(model, train_cfg, pop, device):
      metrics = np.asarray(metrics_M4)
      diverged = np.asarray(state.diverged_epoch)[:len(pop)] > 0
  return {"metrics": metrics, "diverged": diverged,
          "sigma_w2": np.array([m.scale ** 2 for m in pop]), "seed": np.array([m.seed for m in pop]),
          "compilations": np.array(len(compiled)), "wall_s": np.array(time.perf_counter() - start)}


def records(cfg: Config, trained: dict[int, dict[str, np.ndarray]]) -> list[dict]:
  """One record per network (the shape :func:`jaxinit.results.summarize` reads); ``member``
  numbers the networks of all depths in order."""
  rows = []
  for depth in cfg.depths:
    r = trained[depth]
    for k in range(len(r["seed"])):
      rows.append({"member": len(rows), "epoch": cfg.epochs, "depth": depth,
                   "sigma_w2": round(float(r["sigma_w2"][k]), 4), "seed": int(r["seed"][k]),
                   "diverged": bool(r["diverged"][k]),
                   **{m: float(v) for m, v in zip(tr.METRICS, r["metrics"][k], strict=True)}})
  return rows


def accuracy_grid(cfg: Config, rows: Sequence[dict]) -> np.ndarray:
  """Mean test accuracy over seeds, ``(len(depths), len(sigma_w2))``; a diverged network counts
  at chance (0.1): it did not train."""
  grid = np.zeros((len(cfg.depths), len(cfg.sigma_w2)))
  for i, depth in enumerate(cfg.depths):
    for j, s in enumerate(cfg.sigma_w2):
      acc = [CHANCE if r["diverged"] or not np.isfinite(r["test_acc"]) else r["test_acc"]
             for r in rows if r["depth"] == depth and r["sigma_w2"] == round(s, 4)]
      grid[i, j] = np.mean(acc)
  return grid


@jax.jit
def _xi_c(sigma_w2: jax.Array, sigma_b2: jax.Array) -> jax.Array:
  act = activations.get("tanh")

  def one(C_W):
    K_star, _ = theory.phase_point(act, sigma_b2, C_W)
    return theory.depth_scales(act, sigma_b2, C_W, K_star)[1]

  return jax.vmap(one)(sigma_w2)


def correlation_depth(sigma_w2: np.ndarray, sigma_b2: float) -> np.ndarray:
  """Schoenholz et al.'s correlation depth scale ``xi_c = -1 / log chi_c`` of tanh networks at each
  ``sigma_w^2`` (:func:`jaxinit.theory.depth_scales` at the fixed point ``K*`` of
  :func:`jaxinit.theory.phase_point`), shaped like ``sigma_w2``; one compiled program per number
  of points."""
  return np.asarray(_xi_c(np.asarray(sigma_w2, np.float32), np.float32(sigma_b2)), np.float64)


@jax.jit
def _edge_of_chaos(sigma_b2: jax.Array) -> jax.Array:
  def step(_, bracket):
    lo, hi = bracket
    mid = (lo + hi) / 2
    ordered = theory.chi_c("tanh", sigma_b2, mid) < 1
    return jax.numpy.where(ordered, mid, lo), jax.numpy.where(ordered, hi, mid)

  lo, hi = jax.lax.fori_loop(0, 40, step, (jax.numpy.float32(0.5), jax.numpy.float32(4.0)))
  return (lo + hi) / 2


def critical_sigma_w2(sigma_b2: float) -> float:
  """The ``sigma_w^2`` in [0.5, 4] where ``chi_1 = 1`` (40 bisection steps on ``theory.chi_c``,
  one compiled loop)."""
  return float(_edge_of_chaos(np.float32(sigma_b2)))


def _edges(v: np.ndarray) -> np.ndarray:
  """Cell edges around sorted centres ``v`` (half a step beyond the first and the last)."""
  v = np.asarray(v, float)
  if len(v) == 1:
    return np.array([v[0] - 0.5, v[0] + 0.5])
  mid = (v[1:] + v[:-1]) / 2
  return np.concatenate([[v[0] - (v[1] - v[0]) / 2], mid, [v[-1] + (v[-1] - v[-2]) / 2]])


def curve_points(cfg: Config) -> np.ndarray:
  """The ``sigma_w^2`` values of the theory curve: ``theory_points`` over the plotted range."""
  lo, hi = _edges(np.asarray(cfg.sigma_w2))[[0, -1]]
  return np.linspace(max(lo, 0.05), hi, cfg.theory_points)


def figure(cfg: Config, grid: np.ndarray, fine: np.ndarray, xi: np.ndarray, critical: float
           ) -> Figure:
  """The heat map of accuracy ``grid`` over ``(sigma_w^2, depth)`` with ``6 xi_c`` (``xi`` at
  ``fine``) and the edge of chaos (``critical``) on top."""
  fig = Figure(figsize=(7.5, 5.0))
  ax = fig.add_subplot(1, 1, 1)
  s, d = np.asarray(cfg.sigma_w2), np.asarray(cfg.depths, float)
  edges = _edges
  mesh = ax.pcolormesh(edges(s), edges(d), 100 * grid, cmap="viridis", vmin=100 * CHANCE, vmax=100,
                       shading="flat")
  fig.colorbar(mesh, ax=ax, label="test accuracy (%), mean over seeds")
  ax.plot(fine, np.where(np.isfinite(xi), 6 * xi, np.nan), "-", color="red", lw=2,
          label=r"$6\,\xi_c$ (theory)")
  ax.axvline(critical, color="orange", ls=":", lw=1.8, label=r"edge of chaos $\chi_1 = 1$")
  ax.set_ylim(edges(d)[0], edges(d)[-1])
  ax.set_xlim(edges(s)[0], edges(s)[-1])
  ax.set_xlabel(r"weight variance $\sigma_w^2$ (fan-in units)")
  ax.set_ylabel("depth L (hidden tanh layers)")
  ax.set_title(rf"tanh MLP on MNIST, $\sigma_b^2 = {cfg.sigma_b2:g}$", pad=30)
  ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
  return fig


def main(argv: Sequence[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  cfg = out.config
  trained = {}
  for depth in cfg.depths:
    # what decides one depth's networks (not the other depths, not the theory curve)
    key = {**dataclasses.asdict(cfg), "depths": None, "theory_points": None, "depth": depth}
    trained[depth] = out.cached(f"depth{depth}", key, lambda d=depth: train_depth(cfg, d))
  rows = records(cfg, trained)
  grid = accuracy_grid(cfg, rows)
  steps = cfg.epochs * cfg.n_train // cfg.batch_size
  source = dataset(cfg).source
  fine = curve_points(cfg)
  xi_c = correlation_depth(np.concatenate([fine, cfg.sigma_w2]), cfg.sigma_b2)
  fine_xi, theory_xi = xi_c[:len(fine)], xi_c[len(fine):]
  critical = critical_sigma_w2(cfg.sigma_b2)
  out.figure(figure(cfg, grid, fine, fine_xi, critical), "phase_diagram",
             f"Test accuracy (first {cfg.n_test} MNIST test images) after {steps} SGD steps "
             f"(momentum {cfg.momentum}, lr {cfg.lr}, batch {cfg.batch_size}, first {cfg.n_train} "
             f"training images) of tanh MLPs of width {cfg.width}, mean over {cfg.seeds} seeds "
             f"per cell (a diverged network counts at chance, 10%); sigma_b^2 = {cfg.sigma_b2}. "
             "Red line: 6 xi_c, xi_c = -1/log chi_c (Schoenholz et al. 2017); dotted: the edge "
             "of chaos chi_1 = 1.")
  table = results.summarize(rows, by=("depth", "sigma_w2"), metrics=("test_acc", "train_acc"))
  out.table(table, "accuracy", by=("depth", "sigma_w2"), metrics=("test_acc", "train_acc"),
            setting=f"tanh MLP, width {cfg.width}, sigma_b^2 = {cfg.sigma_b2}; {steps} steps of "
                    f"{cfg.optimizer} (lr {cfg.lr}, momentum {cfg.momentum}, batch "
                    f"{cfg.batch_size}) on the first {cfg.n_train} MNIST training images; tested on "
                    f"the first {cfg.n_test} test images. Data: {source}.")
  best = {str(d): float(cfg.sigma_w2[int(np.argmax(grid[i]))]) for i, d in enumerate(cfg.depths)}
  out.summary({
      "networks_trained": len(rows), "compiled_programs": int(sum(
          int(trained[d]["compilations"]) for d in cfg.depths)),
      "train_wall_s": round(float(sum(float(trained[d]["wall_s"]) for d in cfg.depths)), 1),
      "sgd_steps": steps, "data": source,
      "critical_sigma_w2": round(critical, 4),
      "six_xi_c": {f"{s:g}": round(6 * float(x), 1) for s, x in zip(cfg.sigma_w2, theory_xi,
                                                                     strict=True)},
      "best_sigma_w2_per_depth": best,
      "accuracy_grid_percent": {str(d): [round(100 * v, 1) for v in grid[i]]
                                for i, d in enumerate(cfg.depths)},
      "diverged": int(sum(r["diverged"] for r in rows))})
  return 0


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
