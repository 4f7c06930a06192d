"""Deep activation statistics: how do activations and gradients evolve through a deep MLP at init,
under which initialization, with and without BatchNorm, and does the network then train?

Source: the lecture notes on optimizing deep networks (``002_*.txt`` in ``/work/shared/sources``):
with small Gaussian weights N(0, 0.01) the activations of a deep tanh network shrink layer by layer;
"Xavier" keeps their spread; for ReLU the analysis gives "Xavier2" (He). Its figures are of a
network of 10 hidden layers of 500 units. The notes give two Xavier variants, the uniform Glorot
rule and the "simpler" N(0, 1) * sqrt(1 / n_j) they recommend in practice, with n_j the fan-in; we
use the latter (``lecun_normal``, the variant the 10 x 500 figures use), and ``he_normal`` =
N(0, 2 / fan_in) for Xavier2. The notes name no initialization for sigmoid; we give it the same
simple Xavier, since they say the Xavier analysis "holds for tanh or similar activations".

Setup: an MLP 784 -> 10 x 500 -> 10, zero biases, five cases: tanh + N(0, 0.01), tanh + Xavier,
ReLU + Xavier, ReLU + He, sigmoid + Xavier; with and without BatchNorm after every hidden layer
(train mode: each unit normalized over the batch, as in the first training step). On i.i.d.
N(0, 1) inputs (``gaussian``) and on MNIST (standardized), ``Config.stat_seeds`` = 4 networks each,
measured on the first ``Config.examples`` = 512 training examples by one compiled forward and
backward pass per network (the quantities of :func:`jaxinit.studies.measure.diagnose`, in a leaner
program that compiles in a fraction of the time):

* per-layer activation histograms (the first seed) and the std of the activations, pooled over
  units and examples, against the infinite-width kernel recursion
  (:func:`jaxinit.schemes.predictions.kernel_prediction`): with ``K_b(l)`` the predicted variance of
  ``z(l)`` at example ``b``, the pooled std is ``sqrt(mean_b E[phi^2] - (mean_b E[phi])^2)``,
  ``z ~ N(0, K_b(l))``. With BatchNorm the prediction is the same expression with ``z ~ N(0, r(l))``,
  ``r(l) = v / (v + eps)``, ``v`` the predicted pre-normalization batch variance of a unit;
* per-layer gradient norms ``||dL/dW(l)||_F`` of the batch-mean cross-entropy;
* whether the network then trains: one epoch (SGD + momentum 0.9, lr 0.01, batch 128) per case x
  BatchNorm, ``Config.train_seeds`` seeds each, all seeds and schemes of an activation as one
  vmapped population (:func:`jaxinit.engine.train.run`): test accuracy and training loss. The epoch is
  over the first ``Config.train_examples`` = 6000 MNIST training images (tested on the first 2000 test
  images), not all 60000: a full epoch of this 10 x 500 network cost 67 s per network on this
  shared 2-core CPU (measured, jax 0.10, batch 256), 20 networks would take over 20 minutes, far
  past the experiment's ~12 minute budget. Whether a network trains at all shows within 47 steps.

Wall time on this shared 2-core CPU: 6 min 17 s for the full size from scratch at load average 3-6
(233 s of CPU time; 14 min 48 s at load average 12-15); ``--tiny``: about 17 s of CPU time.

    python -m experiments.deep_activation_statistics          # full size, see the gallery for wall time
    python -m experiments.deep_activation_statistics --tiny   # seconds (the tests run it)

Writes the figures ``depth_profiles`` (activation std with theory, gradient norms) and
``activation_hist_<data>``, the tables ``activation_std`` and ``train_accuracy`` and
``summary.json`` into ``runs/deep_activation_statistics``. Rerunning continues: every measured or
trained stage is stored in ``stages/`` (npz keyed by its settings) and read back; a finished run
(``summary.json`` with the same config) returns at once (delete ``summary.json`` to redraw).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from jaxinit import activations, data, theory
from jaxinit.engine import population
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.results import stats
from jaxinit.schemes import predictions
from jaxinit.studies import gallery

NAME = "deep_activation_statistics"
BN_EPS = 1e-5
"""flax.linen.BatchNorm's default epsilon, which the models use: ``(z - mean) / sqrt(var + eps)``."""

SHORT = {"normal(stddev=0.01)": "N(0, 0.01)", "lecun_normal": "Xavier N(0, 1/fan_in)",
         "he_normal": "He N(0, 2/fan_in)"}
"""Scheme -> its label in figures and tables."""


@dataclasses.dataclass(frozen=True)
class Config:
  """The study.

  Attributes:
    hidden: hidden layers. width: their units.
    cases: ``(activation, scheme)`` pairs.
    datasets: the inputs the statistics are measured on.
    batch_norms: without (False) and with (True) BatchNorm after every hidden layer.
    stat_seeds: networks per case for the statistics. examples: training examples they see.
    bins: histogram bins.
    train_data: the training set; train_examples, test_examples: its first examples used.
    bn_examples: training examples BatchNorm's statistics are re-estimated on after training.
    train_seeds: networks per case and BatchNorm setting trained.
    epochs, batch_size, lr, momentum: the training (SGD + heavy-ball momentum).
  """

  hidden: int = 10
  width: int = 500
  cases: tuple[tuple[str, str], ...] = (
      ("tanh", "normal(stddev=0.01)"), ("tanh", "lecun_normal"), ("relu", "lecun_normal"),
      ("relu", "he_normal"), ("sigmoid", "lecun_normal"))
  datasets: tuple[str, ...] = ("gaussian(dim=784, n=1024, n_test=256, classes=10)", "mnist")
  batch_norms: tuple[bool, ...] = (False, True)
  stat_seeds: int = 4
  examples: int = 512
  bins: int = 60
  train_data: str = "mnist"
  train_examples: int = 6000
  test_examples: int = 2000
  bn_examples: int = 2000
  train_seeds: int = 2
  epochs: int = 1
  batch_size: int = 128
  lr: float = 0.01
  momentum: float = 0.9


TINY = Config(hidden=4, width=32, cases=(("tanh", "normal(stddev=0.01)"), ("tanh", "lecun_normal")),
              datasets=("gaussian(dim=64, n=128, n_test=64, classes=10)",), batch_norms=(False,),
              stat_seeds=2, examples=128, bins=20,
              train_data="gaussian(dim=64, n=128, n_test=64, classes=10)", train_examples=128,
              test_examples=64, train_seeds=2, batch_size=32)
"""Seconds: one activation, no BatchNorm (its theory is tested on its own), the statistics' data is
the training data, so the population's init program is compiled once."""


def label(case: Sequence[str]) -> str:
  """``"tanh + N(0, 0.01)"``: a case's name in figures and tables."""
  act, scheme = case
  return f"{act} + {SHORT.get(scheme, scheme)}"


def model_config(cfg: Config, activation: str, batch_norm: bool, classes: int = 10
                 ) -> models.ModelConfig:
  """``hidden`` layers of ``width`` units and a readout of ``classes`` logits."""
  return models.ModelConfig(widths=(cfg.width,) * cfg.hidden + (classes,), activation=activation,
                            batch_norm=batch_norm)


def _activations(cfg: Config) -> tuple[str, ...]:
  return tuple(dict.fromkeys(act for act, _ in cfg.cases))


def _schemes(cfg: Config, activation: str) -> tuple[str, ...]:
  return tuple(s for act, s in cfg.cases if act == activation)


# ----------------------------------------------------------------------------- theory


@functools.lru_cache(maxsize=8)
def _moment_fn(activation: str) -> Any:
  act = activations.get(activation)
  one = lambda k: jnp.stack([theory.gaussian_expectation(act, k), theory.second_moment(act, k)])
  return jax.jit(jax.vmap(one))


def _moments(activation: str, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """``E phi(z)`` and ``E phi(z)^2`` for ``z ~ N(0, K)``, elementwise over ``K`` (any shape)."""
  K = np.asarray(K, np.float64)
  m = np.asarray(_moment_fn(activation)(jnp.asarray(K.ravel(), jnp.float32)), np.float64)
  return m[:, 0].reshape(K.shape), m[:, 1].reshape(K.shape)


def pooled_std(activation: str, K_BL: np.ndarray) -> np.ndarray:
  """The std of ``phi(z)`` pooled over units and examples when unit ``z(l)`` at example ``b`` is
  ``N(0, K_BL[b, l])``: ``sqrt(mean_b E phi^2 - (mean_b E phi)^2)``, shape ``(L,)``."""
  m1, m2 = _moments(activation, K_BL)
  m1, m2 = m1.mean(axis=0), m2.mean(axis=0)
  return np.sqrt(np.maximum(m2 - m1 ** 2, 0.0))


def plain_theory(activation: str, scheme: str, model_cfg: models.ModelConfig, x_BD: np.ndarray
                 ) -> np.ndarray:
  """Predicted pooled activation std of each hidden layer of a plain MLP, ``(hidden,)``: the
  infinite-width kernel ``K_b(l)`` (:func:`jaxinit.schemes.predictions.kernel_prediction`) of every
  input ``b`` of ``x_BD``, then :func:`pooled_std`."""
  variances = predictions.layer_variances(scheme, model_cfg, x_BD.shape[1:])
  if variances is None:
    raise ValueError(f"scheme {scheme!r} has no kernel-recursion prediction; accepted: a "
                     "zero-mean i.i.d. scheme such as normal(stddev=0.01), lecun_normal, he_normal")
  q0_B = np.mean(np.asarray(x_BD, np.float64) ** 2, axis=1)
  K_BL = predictions.kernel_prediction(activation, *variances, q0_B)
  return pooled_std(activation, K_BL[:, :-1])


def batchnorm_theory(activation: str, scheme: str, model_cfg: models.ModelConfig, x_BD: np.ndarray,
                     eps: float = BN_EPS) -> np.ndarray:
  """Predicted activation std of each hidden layer with BatchNorm (train mode), ``(hidden,)``.

  A unit's preactivation, centered over the batch, has variance ``v(l) = C_W(l) Var h(l-1)``
  (``Var h(0)`` the inputs' per-feature batch variance averaged over features; BatchNorm's
  centering removes the bias and the activations' mean); BatchNorm scales it to
  ``r(l) = v(l) / (v(l) + eps)``; ``h(l) = phi(z)``, ``z ~ N(0, r(l))``.
  """
  plain = dataclasses.replace(model_cfg, batch_norm=False)
  variances = predictions.layer_variances(scheme, plain, x_BD.shape[1:])
  if variances is None:
    raise ValueError(f"scheme {scheme!r} has no kernel-recursion prediction")
  C_W = variances[0]
  var_h = float(np.mean(np.var(np.asarray(x_BD, np.float64), axis=0)))
  out = []
  for layer in range(model_cfg.depth - 1):
    v = C_W[layer] * var_h
    r = v / (v + eps)
    m1, m2 = _moments(activation, np.array([r]))
    var_h = float(m2[0] - m1[0] ** 2)
    out.append(math.sqrt(max(var_h, 0.0)))
  return np.asarray(out)


# ----------------------------------------------------------------------------- measurements


@functools.lru_cache(maxsize=16)
def _program(model_cfg: models.ModelConfig) -> Any:
  """``jit(f)(variables_M, x_BD, y_B, edges_E)`` for one architecture -> per member: the hidden
  activations' std and mean ``(M, H)`` pooled over units and examples, their histograms on
  ``edges_E`` ``(M, H, E - 1)`` and ``||dL/dW(l)||_F`` ``(M, L)`` of the batch-mean loss.
  BatchNorm (if any) in train mode: the batch's statistics, as in the first training step.

  A lean program (one forward and one backward pass per member); :func:`jaxinit.studies.measure.diagnose`
  measures the same statistics and more, but compiles for several seconds per architecture, which
  the tiny run cannot afford.
  """
  model = models.build(model_cfg)
  hidden = model_cfg.depth - 1
  mutable = ["intermediates", "batch_stats"] if model_cfg.batch_norm else ["intermediates"]

  def one(variables: dict, x: jax.Array, y: jax.Array, edges: jax.Array) -> tuple:
    def loss(params: dict) -> tuple[jax.Array, dict]:
      logits, state = model.apply({**variables, "params": params}, x, train=True, mutable=mutable)
      return jnp.mean(models.per_example_loss(logits, y)[0]), state["intermediates"]

    grads, sown = jax.grad(loss, has_aux=True)(variables["params"])
    acts = [sown[f"act_{i}"][0] for i in range(hidden)]
    std = jnp.stack([jnp.std(a) for a in acts])
    mean = jnp.stack([jnp.mean(a) for a in acts])
    hist = jnp.stack([jnp.histogram(a, edges)[0] for a in acts])
    grad_w = jnp.stack([jnp.sqrt(jnp.sum(grads[f"layer_{i}"]["kernel"] ** 2))
                        for i in range(model_cfg.depth)])
    return std, mean, hist, grad_w

  return jax.jit(jax.vmap(one, in_axes=(0, None, None, None)))


def measure(cfg: Config, dataset: data.Dataset, activation: str, batch_norm: bool
            ) -> dict[str, np.ndarray]:
  """Statistics of the ``activation``'s cases at initialization on ``dataset``'s first examples.

  Returns:
    ``act_std_CSL``, ``act_mean_CSL`` (cases x seeds x hidden layers: pooled over units and
    examples), ``grad_w_CSL`` (``||dL/dW(l)||_F`` of the batch-mean cross-entropy, every layer),
    ``hist_CLB`` (the first seed's activation histogram per hidden layer), ``edges_E`` (their bin
    edges), ``theory_CL`` (predicted activation std), ``q0_B`` (the inputs' mean squares) and
    ``source`` (where the data came from).
  """
  schemes = _schemes(cfg, activation)
  model_cfg = model_config(cfg, activation, batch_norm, dataset.num_classes)
  members = population.grid(schemes, range(cfg.stat_seeds))
  n = min(cfg.examples, len(dataset.y_train))
  x = np.asarray(dataset.x_train[:n], np.float32).reshape(n, -1)
  y = np.asarray(dataset.y_train[:n], np.int32)
  variables_M = population.init_params(model_cfg, members, x.shape[1:])
  lo, hi = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}.get(activation, (0.0, 8.0))
  edges = np.linspace(lo, hi, cfg.bins + 1, dtype=np.float32)
  std, mean, hist, grad_w = jax.device_get(_program(model_cfg)(variables_M, x, y, edges))
  C, S = len(schemes), cfg.stat_seeds
  shaped = lambda a: np.asarray(a, np.float64).reshape(C, S, -1)
  predict = batchnorm_theory if batch_norm else plain_theory
  return {"act_std_CSL": shaped(std), "act_mean_CSL": shaped(mean), "grad_w_CSL": shaped(grad_w),
          "hist_CLB": np.asarray(hist).reshape(C, S, *hist.shape[1:])[:, 0], "edges_E": edges,
          "theory_CL": np.stack([predict(activation, s, model_cfg, x) for s in schemes]),
          "q0_B": np.mean(x.astype(np.float64) ** 2, axis=1), "source": np.array(dataset.source)}


def stage_name(data_name: str, activation: str, batch_norm: bool) -> str:
  """The cached stage of one (dataset, activation, BatchNorm) measurement."""
  base = data_name.split("(")[0]
  return f"stats_{base}_{activation}_{'bn' if batch_norm else 'plain'}"


def statistics(out: gallery.Output, cfg: Config, data_dir: Any = None
               ) -> dict[tuple[str, bool, str], dict[str, np.ndarray]]:
  """Every measurement, cached per (dataset, activation, BatchNorm).

  Returns:
    ``{(dataset, batch_norm, label): arrays}`` with, per case, ``act_std_SL``, ``act_mean_SL``,
    ``grad_w_SL``, ``hist_LB``, ``edges_E``, ``theory_L`` (see :func:`measure`).
  """
  found, loaded = {}, {}

  def dataset(name: str) -> data.Dataset:  # loaded only when a stage is computed
    if name not in loaded:
      loaded[name] = data.load(name, data_dir=data_dir)
    return loaded[name]

  for data_name in cfg.datasets:
    for batch_norm in cfg.batch_norms:
      for act in _activations(cfg):
        key = {"data": data.canonical(data_name), "activation": act, "batch_norm": batch_norm,
               "schemes": _schemes(cfg, act), **{k: getattr(cfg, k) for k in (
                   "hidden", "width", "stat_seeds", "examples", "bins")}}
        arrays = out.cached(stage_name(data_name, act, batch_norm), key,
                            lambda a=act, bn=batch_norm, d=data_name: measure(cfg, dataset(d), a, bn))
        for c, scheme in enumerate(_schemes(cfg, act)):
          found[(data_name, batch_norm, label((act, scheme)))] = {"source": str(arrays["source"]),
              "act_std_SL": arrays["act_std_CSL"][c], "act_mean_SL": arrays["act_mean_CSL"][c],
              "grad_w_SL": arrays["grad_w_CSL"][c], "hist_LB": arrays["hist_CLB"][c],
              "edges_E": arrays["edges_E"],
              "theory_L": arrays["theory_CL"][c]}
  return found


def statistics_rows(found: dict[tuple[str, bool, str], dict[str, np.ndarray]]
                    ) -> list[dict[str, Any]]:
  """One row per (dataset, BatchNorm, case, seed): the first hidden layer's activation std, the
  last one's and its prediction as log10 (they span orders of magnitude), and log10 of the first
  and last hidden layer's ``||dL/dW||_F``."""
  rows = []
  for (data_name, batch_norm, case), a in found.items():
    L = a["act_std_SL"].shape[1]
    for s in range(a["act_std_SL"].shape[0]):
      rows.append({"data": data_name.split("(")[0], "batch_norm": batch_norm, "case": case,
                   "act_std_l1": a["act_std_SL"][s, 0],
                   f"log10_act_std_l{L}": math.log10(a["act_std_SL"][s, -1]),
                   f"log10_theory_std_l{L}": math.log10(a["theory_L"][-1]),
                   "log10_grad_w_l1": math.log10(a["grad_w_SL"][s, 0]),
                   f"log10_grad_w_l{L}": math.log10(a["grad_w_SL"][s, L - 1])})
  return rows


# ----------------------------------------------------------------------------- training


BN_MOMENTUM = 0.99
"""flax.linen.BatchNorm's default momentum, which the models use: ``ra = m ra + (1 - m) batch``."""


def precise_batchnorm_metrics(model_cfg: models.ModelConfig, variables_M: dict, x_stats: np.ndarray,
                              dataset: data.Dataset) -> np.ndarray:
  """:data:`jaxinit.engine.train.METRICS` of each member with its BatchNorm running statistics replaced
  by the exact mean and variance of every BatchNorm layer's input over ``x_stats`` (train-mode
  forward pass: each layer normalized by those statistics, as in training).

  After a short run the running averages (momentum 0.99, starting from mean 0 and variance 1) are
  far from the statistics the network was trained with: after 47 steps 0.99^47 = 62% of the
  initial variance 1 remains. This re-estimates them, as Wu & Johnson (2021), "Rethinking
  'Batch' in BatchNorm", Sec. 3 recommend. The statistics come from one train-mode pass starting
  from zero running statistics: the update leaves ``(1 - m)`` times the batch's own.

  Args:
    model_cfg: the architecture (with BatchNorm).
    variables_M: ``{"params", "batch_stats"}`` stacked over ``M`` members.
    x_stats: ``(B, ...)`` inputs to estimate the statistics on.
    dataset: the train and test split evaluated.

  Returns:
    ``(M, 4)`` float64: train loss, train accuracy, test loss, test accuracy.
  """
  model = models.build(model_cfg)

  def one(variables: dict, x_stats: jax.Array, splits: tuple) -> jax.Array:
    zeros = jax.tree.map(jnp.zeros_like, variables["batch_stats"])
    _, upd = model.apply({"params": variables["params"], "batch_stats": zeros}, x_stats, train=True,
                         mutable=["batch_stats"])
    exact = {"params": variables["params"],
             "batch_stats": jax.tree.map(lambda v: v / (1 - BN_MOMENTUM), upd["batch_stats"])}
    out = []
    for x, y in splits:
      loss, correct = models.per_example_loss(model.apply(exact, x), y)
      out += [jnp.mean(loss), jnp.mean(correct.astype(jnp.float32))]
    return jnp.stack(out)

  run = jax.jit(lambda v, xs, splits: jax.lax.map(lambda m: one(m, xs, splits), v))
  splits = ((dataset.x_train, dataset.y_train), (dataset.x_test, dataset.y_test))
  return np.asarray(run(variables_M, jnp.asarray(x_stats), splits), np.float64)


def train_population(cfg: Config, dataset: data.Dataset, activation: str, batch_norm: bool
                     ) -> dict[str, np.ndarray]:
  """Trains the ``activation``'s cases x ``cfg.train_seeds`` seeds as one population
  (:func:`jaxinit.engine.train.run`) for ``cfg.epochs`` epochs on the first ``cfg.train_examples``
  training examples of ``dataset``, evaluated on its first ``cfg.test_examples`` test examples.

  Returns:
    ``metrics_MK`` (members x :data:`jaxinit.engine.train.METRICS`, NaN for a diverged member, as
    :func:`jaxinit.engine.train.run` evaluates: BatchNorm with its running averages), ``precise_MK`` (the
    same with BatchNorm's statistics re-estimated on the first ``cfg.bn_examples`` training
    examples, :func:`precise_batchnorm_metrics`; equal to ``metrics_MK`` without BatchNorm),
    ``scheme_M``, ``seed_M`` and ``source``.
  """
  schemes = _schemes(cfg, activation)
  model_cfg = model_config(cfg, activation, batch_norm, dataset.num_classes)
  members = population.grid(schemes, range(cfg.train_seeds), lrs=(cfg.lr,), momenta=(cfg.momentum,))
  sub = dataset.subset(min(cfg.train_examples, len(dataset.y_train)),
                       min(cfg.test_examples, len(dataset.y_test)))
  train_cfg = tr.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size)
  metrics, variables_M = np.full((len(members), len(tr.METRICS)), np.nan), {}
  for _, state, last in tr.run(model_cfg, train_cfg, members, tr.device_data(sub)):
    metrics = np.asarray(last, np.float64)
    variables_M = jax.device_get(tr.variables(state))
  precise = metrics
  if batch_norm:
    variables_M = jax.tree.map(lambda a: a[:len(members)], variables_M)
    precise = precise_batchnorm_metrics(model_cfg, variables_M, sub.x_train[:cfg.bn_examples], sub)
    precise = np.where(np.isfinite(metrics), precise, np.nan)
  return {"metrics_MK": metrics, "precise_MK": precise,
          "scheme_M": np.array([m.scheme for m in members]),
          "seed_M": np.array([m.seed for m in members]), "source": np.array(dataset.source)}


TRAIN_METRICS = ("test_acc", "running_bn_test_acc", "train_acc", "train_loss")
"""The training table's columns: with BatchNorm's statistics re-estimated, and test_acc as
:func:`jaxinit.engine.train.run` evaluates it (running averages)."""


def training(out: gallery.Output, cfg: Config, data_dir: Any = None
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
  """Trains every (case, BatchNorm) population, cached per (activation, BatchNorm).

  Returns:
    ``(members, table)``: one row per trained network (``case``, ``batch_norm``, ``seed``, the
    :data:`jaxinit.engine.train.METRICS` with BatchNorm's statistics re-estimated and, prefixed
    ``running_bn_``, as :func:`jaxinit.engine.train.run` evaluates them), and the table rows
    (:func:`jaxinit.results.stats.group` per case and BatchNorm: mean, std, 95% CI; a network with a
    non-finite loss counts as diverged).
  """
  loaded: dict[str, data.Dataset] = {}
  rows = []
  for batch_norm in cfg.batch_norms:
    for act in _activations(cfg):
      key = {"data": data.canonical(cfg.train_data), "activation": act, "batch_norm": batch_norm,
             "schemes": _schemes(cfg, act), **{k: getattr(cfg, k) for k in (
                 "hidden", "width", "train_seeds", "train_examples", "test_examples", "epochs",
                 "batch_size", "lr", "momentum", "bn_examples")}}

      def compute(a: str = act, bn: bool = batch_norm) -> dict[str, np.ndarray]:
        if "train" not in loaded:
          loaded["train"] = data.load(cfg.train_data, data_dir=data_dir)
        return train_population(cfg, loaded["train"], a, bn)

      arrays = out.cached(f"train_{act}_{'bn' if batch_norm else 'plain'}", key, compute)
      for metrics, precise, scheme, seed in zip(arrays["metrics_MK"], arrays["precise_MK"],
                                                arrays["scheme_M"], arrays["seed_M"], strict=True):
        rows.append({"case": label((act, str(scheme))), "batch_norm": batch_norm, "seed": int(seed),
                     **dict(zip(tr.METRICS, map(float, precise), strict=True)),
                     **{f"running_bn_{m}": float(v) for m, v in zip(tr.METRICS, metrics,
                                                                     strict=True)},
                     "source": str(arrays["source"])})
  order = [label(c) for c in cfg.cases]
  rows.sort(key=lambda r: (r["batch_norm"], order.index(r["case"]), r["seed"]))
  table = [{**r, "epoch": cfg.epochs, "n_diverged": r.pop("n_excluded")}
           for r in stats.group(rows, ("case", "batch_norm"), TRAIN_METRICS,
                                excluded=lambda r: not stats.finite(r["train_loss"]))]
  return rows, table


# ----------------------------------------------------------------------------- figures


def _panels(cfg: Config, rows: int, cols: int, width: float = 5.2, height: float = 3.6
            ) -> tuple[Figure, np.ndarray]:
  fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
  axes = np.asarray(fig.subplots(rows, cols, squeeze=False))
  return fig, axes


def _log_y(ax: Any) -> None:
  """Log y axis with plain tick labels (``0.5``, ``1e-05``; mathtext labels make saving ~40%
  slower); call after drawing. Ticks at 1, 2 and 5 times each decade when the data span less than
  two decades."""
  from matplotlib import ticker

  ax.set_yscale("log")
  lo, hi = ax.get_ylim()
  if hi < 100 * lo:
    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
  ax.yaxis.set_major_formatter(ticker.FuncFormatter(
      lambda v, _: f"{v:g}" if 1e-3 <= v < 1e4 else f"{v:.0e}"))
  ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def _colors(cfg: Config) -> dict[str, Any]:
  import matplotlib as mpl

  cmap = mpl.colormaps["tab10"]
  return {label(c): cmap(i) for i, c in enumerate(cfg.cases)}


QUANTITIES = (("act_std_SL", "std of phi(z(l))", True), ("grad_w_SL", "||dL/dW(l)||_F", False))
"""The depth figure's rows: (array, y label, whether the theory is drawn)."""


def depth_figure(cfg: Config, found: dict) -> Figure:
  """Columns: plain, BatchNorm; rows: the activations' std on each dataset, then the gradient norms
  on each. Per case the mean over seeds against the hidden layer (markers and line), a band from
  the smallest to the largest seed, and, on the std rows, the prediction (black dashed). The lines' data
  are the stored arrays; their ``gid`` is ``"<array>|<data>|<bn>|<case>|mean"`` (or ``|theory``)."""
  fig, axes = _panels(cfg, len(QUANTITIES) * len(cfg.datasets), len(cfg.batch_norms), height=3.3)
  colors = _colors(cfg)
  for q, (key, ylabel, theory_line) in enumerate(QUANTITIES):
    for i, data_name in enumerate(cfg.datasets):
      for j, batch_norm in enumerate(cfg.batch_norms):
        ax = axes[q * len(cfg.datasets) + i, j]
        for case in map(label, cfg.cases):
          a = found[(data_name, batch_norm, case)]
          v_SL = a[key][:, :cfg.hidden]
          layers = np.arange(1, v_SL.shape[1] + 1)
          gid = f"{key}|{data_name}|{batch_norm}|{case}"
          ax.plot(layers, v_SL.mean(axis=0), "o-", color=colors[case], ms=4, label=case,
                  gid=f"{gid}|mean")
          ax.fill_between(layers, v_SL.min(axis=0), v_SL.max(axis=0), color=colors[case],
                          alpha=0.2, lw=0)
          if theory_line:
            ax.plot(layers, a["theory_L"], "--", color="black", lw=1.0, zorder=3,
                    gid=f"{gid}|theory")
        _log_y(ax)
        ax.set_xlabel("hidden layer l")
        ax.set_ylabel(ylabel)
        ax.set_xticks(layers)
        ax.set_title(f"{data_name.split('(')[0]} inputs, {'BatchNorm' if batch_norm else 'plain'}")
  from matplotlib.lines import Line2D

  handles, labels = axes[0, 0].get_legend_handles_labels()
  handles.append(Line2D([], [], ls="--", color="black", lw=1.0))
  labels.append("infinite-width theory")
  fig.legend(handles, labels, loc="outside upper center", ncol=3)
  return fig


def histogram_figure(cfg: Config, found: dict, data_name: str) -> Figure:
  """Rows: plain, BatchNorm; columns: cases. Each panel overlays the first seed's activation
  histogram (density) of every hidden layer, colored from light (layer 1) to dark (last)."""
  import matplotlib as mpl

  fig, axes = _panels(cfg, len(cfg.batch_norms), len(cfg.cases), width=3.4, height=2.9)
  cmap = mpl.colormaps["viridis_r"]
  for i, batch_norm in enumerate(cfg.batch_norms):
    for j, case in enumerate(map(label, cfg.cases)):
      ax, a = axes[i, j], found[(data_name, batch_norm, case)]
      edges, hist_LB = a["edges_E"], a["hist_LB"]
      L = hist_LB.shape[0]
      for layer in range(L):
        density = hist_LB[layer] / max(hist_LB[layer].sum(), 1) / np.diff(edges)
        ax.stairs(density, edges, color=cmap(0.1 + 0.85 * layer / max(L - 1, 1)),
                  lw=1.2, label=f"layer {layer + 1}")
      _log_y(ax)
      ax.set_title(f"{case}\n{'BatchNorm' if batch_norm else 'plain'}", fontsize=10)
      ax.set_xlabel("activation phi(z)")
      ax.set_ylabel("density")
  handles, labels = axes[0, 0].get_legend_handles_labels()
  fig.legend(handles, labels, loc="outside upper center", ncol=min(10, len(labels)))
  return fig


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  cfg = out.config
  if out.finished():
    return 0
  found = statistics(out, cfg)
  n_stat = f"{cfg.stat_seeds} networks per case"
  data_text = ", ".join(data.canonical(d) for d in cfg.datasets)
  out.figure(depth_figure(cfg, found), "depth_profiles",
             f"Top: std of the activations of each hidden layer, pooled over units and {cfg.examples} "
             f"training examples ({data_text}), at initialization of an MLP of {cfg.hidden} hidden "
             f"layers x {cfg.width} units (zero biases); dashed: infinite-width kernel recursion "
             "(with BatchNorm: normalized unit-variance preactivations, eps 1e-5). Bottom: Frobenius "
             "norm of the gradient of the batch-mean cross-entropy (random labels for gaussian) "
             f"with respect to each hidden layer's kernel. Line: mean over {n_stat}; band: smallest "
             "to largest network. With BatchNorm, cases of one activation that differ only in the "
             "kernels' scale draw the same networks up to that scale (common seeds), which "
             "BatchNorm removes: their lines coincide.")
  for data_name in cfg.datasets:
    out.figure(histogram_figure(cfg, found, data_name), f"activation_hist_{data_name.split('(')[0]}",
               f"Histograms (density, log scale) of the activations of each hidden layer of one "
               f"network (seed 0) at initialization on {cfg.examples} {data.canonical(data_name)} "
               "training examples; values outside the panel's range are not counted (relu: [0, 8]); "
               f"{cfg.bins} bins on the range.")
  stat_rows = statistics_rows(found)
  L = cfg.hidden
  metrics = ("act_std_l1", f"log10_act_std_l{L}", f"log10_theory_std_l{L}", "log10_grad_w_l1",
             f"log10_grad_w_l{L}")
  stat_table = [{**r, "epoch": 0, "n_diverged": r.pop("n_excluded")}
                for r in stats.group(stat_rows, ("data", "batch_norm", "case"), metrics)]
  out.table(stat_table, "activation_std", by=("data", "batch_norm", "case"), metrics=metrics,
            setting=f"At initialization (epoch 0), on {cfg.examples} training examples; act_std_lk: "
            "std of the activations of hidden layer k (pooled over units and examples); theory: "
            "its infinite-width prediction; grad_w_lk: ||dL/dW(k)||_F; log10_: base-10 logarithm.",
            digits=3)
  train_members, train_table = training(out, cfg)
  setting = (f"Trained {cfg.epochs} epoch(s) on the first {cfg.train_examples} training examples of "
             f"{data.canonical(cfg.train_data)} (batch {cfg.batch_size}, SGD + momentum "
             f"{cfg.momentum}, lr {cfg.lr}, cross-entropy); test_acc on its first "
             f"{cfg.test_examples} test examples; train_* on the training examples, after the epoch.")
  setting += (f" With BatchNorm, test_acc, train_acc and train_loss use BatchNorm statistics "
              f"re-estimated on {cfg.bn_examples} training examples after training; "
              "running_bn_test_acc uses the running averages (momentum 0.99) as trained.")
  out.table(train_table, "train_accuracy", by=("case", "batch_norm"), metrics=TRAIN_METRICS,
            setting=setting)
  headline: dict[str, Any] = {
      "data_sources": sorted({a["source"] for a in found.values()}),
      "train_data": sorted({r["source"] for r in train_members})}
  for (data_name, batch_norm, case), a in found.items():
    key = f"{data_name.split('(')[0]}|{'bn' if batch_norm else 'plain'}|{case}"
    headline[f"act_std_l{L}|{key}"] = float(a["act_std_SL"][:, -1].mean())
    headline[f"theory_std_l{L}|{key}"] = float(a["theory_L"][-1])
  for r in train_table:
    headline[f"test_acc|{'bn' if r['batch_norm'] else 'plain'}|{r['case']}"] = r["test_acc_mean"]
  out.summary(headline)
  print(f"{NAME}: wrote {out.folder}")
  return 0


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
