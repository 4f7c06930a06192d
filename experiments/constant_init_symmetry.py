"""Constant initialization: do hidden units stay identical, in the gradient and after training?

Source: the blog post "Deep Learning Parameters Initialization and Optimization" (sources/000, PyTorch,
Fashion-MNIST), its Figure 1: with every weight and bias at 0.005, the weight-gradient histograms of
the three middle layers collapse onto one value (close to, but not, zero) while the first and last
layers keep a spread.

Setup: an MLP 784-512-256-256-128-10 (five weight layers; the post states no widths: ours are the
hidden widths 512-256-256-128 of the UvA deep-learning course's initialization tutorial, which the
post's figure appears to follow), ReLU (with constant weights every unit of a layer computes the same
function whatever the activation), weights and biases all ``constant(0.005)`` (the scheme
``layers(constant(0.005), bias=constant(0.005))``) against ``he_normal`` (zero biases), three seeds
each (the constant network is the same for every seed). (1) One backward pass of the mean
cross-entropy on the first 1024 training images: per-layer histograms of dL/dW, each layer on its own
symmetric range (the ranges of :func:`jaxinit.studies.measure.diagnose`; computed here by one small
``jax.grad`` program, as that function's all-quantities program takes ~9 s to compile at test size),
the number of distinct values per layer (exact float32 equality) and the spreads within a layer,
within one input unit's row and within one output unit's column, in float32 ulps. (2) One epoch of
SGD with momentum (batch 128, lr 0.01, momentum 0.9) from the same initial state, then the number of
distinct hidden units per layer: units whose incoming weights and bias are equal entry for entry in
float32 (``np.unique`` over the rows of ``[W.T | b]``), with the largest deviation of any unit from
the first, in float32 ulps. Data: Fashion-MNIST when its IDX files are found
(``$JAXINIT_DATA_DIR``), MNIST otherwise; the outputs say which (``summary.json``: ``data``,
``data_source``, ``data_fallback``; the tables' captions).

    JAXINIT_DATA_DIR=/work/shared/datasets python -m experiments.constant_init_symmetry  # 55 s CPU
    python -m experiments.constant_init_symmetry --tiny                                  # seconds

Rerunning reads finished stages back (``stages/*.npz``). Measured on the shared 2-core machine (load
~13): 55 s of CPU, 8 min wall.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from jaxinit import data
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.results import stats
from jaxinit.studies import gallery

NAME = "constant_init_symmetry"
ULP = float(np.finfo(np.float32).eps)
"""The float32 spacing at 1: spreads are stated in units of ``ULP * max |value|``."""


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything that decides the numbers.

  Attributes:
    data: datasets to try in order; the first that loads is used (a :class:`jaxinit.data.DataError`
      moves on to the next).
    widths: the five dense layers' output widths, the last the 10 logits.
    activation: the hidden nonlinearity.
    constant: the constant every weight and bias starts at.
    baseline: the random scheme compared with.
    seeds: seeds per scheme.
    examples: the batch of the one backward pass (the first training examples).
    bins: histogram bins per layer.
    epochs, batch_size, lr, momentum: the training of part (2).
  """

  data: tuple[str, ...] = ("fashion_mnist", "mnist")
  widths: tuple[int, ...] = (512, 256, 256, 128, 10)
  activation: str = "relu"
  constant: float = 0.005
  baseline: str = "he_normal"
  seeds: tuple[int, ...] = (0, 1, 2)
  examples: int = 1024
  bins: int = 50
  epochs: int = 1
  batch_size: int = 128
  lr: float = 0.01
  momentum: float = 0.9

  @property
  def schemes(self) -> tuple[str, str]:
    """The constant scheme's canonical name, then the baseline's."""
    const = f"constant({self.constant!r})"
    return (pop.Member(f"layers({const}, bias={const})", 0).scheme, pop.Member(self.baseline, 0).scheme)

  @property
  def model(self) -> models.ModelConfig:
    return models.ModelConfig(widths=self.widths, activation=self.activation)


TINY = Config(data=("gaussian(dim=64, n=512, n_test=128, classes=10)",), widths=(32, 16, 16, 8, 10),
              seeds=(0, 1), examples=256, bins=20, batch_size=64)


def load_data(names: Sequence[str]) -> tuple[data.Dataset, list[str]]:
  """The first of ``names`` that loads, and why each one before it did not.

  Raises:
    DataError: none loads (the last one's error).
  """
  skipped = []
  for i, name in enumerate(names):
    try:
      return data.load(name), skipped
    except data.DataError as e:
      if i == len(names) - 1:
        raise
      skipped.append(f"{name}: {e}")
  raise ValueError("Config.data is empty; accepted: at least one dataset name")


def unit_symmetry(kernel: np.ndarray, bias: np.ndarray) -> tuple[int, float]:
  """How many distinct units a dense layer has, and how far its units are from the first.

  Args:
    kernel: ``(fan_in, width)``; unit ``j``'s incoming weights are ``kernel[:, j]``.
    bias: ``(width,)``.

  Returns:
    ``(distinct, spread)``: the number of distinct rows of ``[kernel.T | bias]`` (exact float32
    equality), and ``max_j max |row_j - row_0|`` in ulps of the largest ``|row_0|`` entry (0 when all
    units are identical; a few when they differ by float32 rounding only).
  """
  rows = np.concatenate([np.asarray(kernel, np.float32).T, np.asarray(bias, np.float32)[:, None]], 1)
  scale = ULP * max(float(np.max(np.abs(rows[0]))), float(np.finfo(np.float32).tiny))
  spread = np.max(np.abs(rows - rows[:1])) / scale
  return len(np.unique(rows, axis=0)), float(spread)


def weight_gradients(model_cfg: models.ModelConfig, params_M: dict, x: np.ndarray, y: np.ndarray
                     ) -> list[np.ndarray]:
  """dL/dW of the batch-mean loss (:func:`jaxinit.nets.models.per_example_loss`) for every member.

  Args:
    model_cfg: the architecture (no BatchNorm).
    params_M: the members' params, leaves ``(M, ...)``.
    x: a batch ``(B, ...)``; y: its integer labels ``(B,)``.

  Returns:
    One float32 array ``(M, fan_in, fan_out)`` per layer, in layer order.
  """
  model = models.build(model_cfg)

  def grads(params: dict) -> dict:
    loss = lambda p: jnp.mean(models.per_example_loss(model.apply({"params": p}, x), y)[0])
    return jax.grad(loss)(params)

  g = jax.device_get(jax.jit(jax.vmap(grads))(params_M))
  return [np.asarray(g[f"layer_{i}"]["kernel"], np.float32) for i in range(model_cfg.depth)]


def _spread_ulps(g: np.ndarray, axis: int) -> np.ndarray:
  """``(max - min) / (ULP * max |entry|)`` along ``axis``, the largest over the other axis."""
  scale = ULP * np.maximum(np.max(np.abs(g), axis=axis), np.finfo(np.float32).tiny)
  return np.max((np.max(g, axis=axis) - np.min(g, axis=axis)) / scale)


def gradient_statistics(grads_L: Sequence[np.ndarray], bins: int) -> dict[str, np.ndarray]:
  """Per-layer statistics of :func:`weight_gradients` for ``S`` members (e.g. one scheme's seeds).

  Returns:
    ``edges (L, bins + 1)``: ``linspace(-r, r, bins + 1)``, ``r`` the largest ``|entry|`` of the
    layer over the members (1 if all are 0), as :func:`jaxinit.studies.measure.diagnose` draws them;
    ``counts (L, bins)``: the first member's histogram on them; ``(S, L)`` arrays: ``distinct``, the
    number of distinct float32 values; ``lo``, ``hi``, the smallest and largest entry;
    ``spread``, ``(hi - lo) / (ULP * max |entry|)``; ``row_spread`` (``col_spread``), the same within
    one row, one input unit across the layer's outputs (one column, one output unit across its
    inputs), the largest over rows (columns). A spread of a few ulps means equal up to rounding.
  """
  keys = ("distinct", "lo", "hi", "spread", "row_spread", "col_spread")
  edges, counts, found = [], [], {k: [] for k in keys}
  for g in grads_L:
    r = float(np.max(np.abs(g))) or 1.0
    edges.append(np.linspace(-r, r, bins + 1))
    counts.append(np.histogram(g[0], bins=edges[-1])[0])
    per_member = [(len(np.unique(m)), m.min(), m.max(), _spread_ulps(m.reshape(1, -1), 1),
                   _spread_ulps(m, 1), _spread_ulps(m, 0)) for m in g]
    for k, values in zip(keys, zip(*per_member, strict=True), strict=True):
      found[k].append(values)
  return {"edges": np.array(edges), "counts": np.array(counts),
          **{k: np.array(v, np.float64).T for k, v in found.items()}}


def measure(cfg: Config, ds: data.Dataset) -> dict[str, np.ndarray]:
  """Both schemes x ``cfg.seeds`` in one population: the gradients at initialization, then
  ``cfg.epochs`` of training from the same initial state.

  Returns (members scheme-major, ``S`` seeds per scheme, ``L`` layers, ``s`` = 0 constant, 1 baseline):
    ``grad<s>_edges (L, bins + 1)`` and ``grad<s>_counts (L, bins)``: the first seed's dL/dW
    histograms, each layer on its own range over that scheme's seeds; ``grad<s>_distinct``,
    ``grad<s>_lo``, ``grad<s>_hi`` ``(S, L)``: distinct values, smallest and largest entry;
    ``distinct_units``, ``unit_spread`` ``(M, L - 1)`` after training (:func:`unit_symmetry`);
    ``metrics (M, 4)`` (:data:`jaxinit.engine.train.METRICS`).
  """
  members = pop.grid(cfg.schemes, cfg.seeds, lrs=[cfg.lr], momenta=[cfg.momentum])
  train_cfg = tr.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size)
  initial = tr.init_state(cfg.model, train_cfg, members, ds.x_train)
  params0 = jax.device_get(initial.params)  # a copy: training donates the state's buffers
  found: dict[str, np.ndarray] = {}
  per_scheme = len(cfg.seeds)
  for s in range(len(cfg.schemes)):
    part = slice(s * per_scheme, (s + 1) * per_scheme)
    grads = weight_gradients(cfg.model, jax.tree.map(lambda a, part=part: a[part], params0),
                             ds.x_train[:cfg.examples], ds.y_train[:cfg.examples])
    grads = gradient_statistics(grads, cfg.bins)
    found.update({f"grad{s}_{k}": v for k, v in grads.items()})
  *_, (_, state, metrics) = tr.run(cfg.model, train_cfg, members, tr.device_data(ds), initial)
  params = jax.device_get(state.params)
  hidden = len(cfg.widths) - 1
  units = np.array([[unit_symmetry(params[f"layer_{i}"]["kernel"][k], params[f"layer_{i}"]["bias"][k])
                     for i in range(hidden)] for k in range(len(members))])
  return {**found, "distinct_units": units[..., 0].astype(np.int64), "unit_spread": units[..., 1],
          "metrics": np.asarray(metrics)[:len(members)]}


def _rows(cfg: Config, grads: dict[str, dict[str, np.ndarray]], units: dict[str, np.ndarray]
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
  """The three tables' units: per (scheme, seed, layer) at init and after training, per member."""
  at_init, trained, members = [], [], []
  for s, scheme in enumerate(cfg.schemes):
    g = grads[scheme]
    for k, seed in enumerate(cfg.seeds):
      for i in range(len(cfg.widths)):
        at_init.append({"scheme": scheme, "seed": seed, "layer": i + 1,
                        "grad_distinct": float(g["distinct"][k, i]),
                        "grad_spread_ulps": float(g["spread"][k, i])})
      m = s * len(cfg.seeds) + k
      for i in range(len(cfg.widths) - 1):
        trained.append({"scheme": scheme, "seed": seed, "layer": i + 1,
                        "distinct_units": float(units["distinct_units"][m, i]),
                        "unit_spread_ulps": float(units["unit_spread"][m, i])})
      members.append({"scheme": scheme, "seed": seed,
                      **dict(zip(tr.METRICS, map(float, units["metrics"][m]), strict=True))})
  return at_init, trained, members


def _table_rows(rows: list[dict[str, Any]], by: tuple[str, ...], metrics: tuple[str, ...], epoch: int
                ) -> list[dict[str, Any]]:
  """:func:`jaxinit.results.stats.group` rows shaped as :func:`jaxinit.results.stats.summarize`'s
  (epoch, n_diverged)."""
  return [{**r, "epoch": epoch, "n_diverged": 0} for r in stats.group(rows, by, metrics)]


def gradient_figure(cfg: Config, grads: dict[str, dict[str, np.ndarray]], ds: data.Dataset) -> Figure:
  """Rows: the two schemes; columns: the layers; each panel its own range, titled with its shape
  and the number of distinct values of the first seed."""
  fans = (int(np.prod(ds.feature_shape)), *cfg.widths[:-1])
  cols = len(cfg.widths)
  fig = Figure(figsize=(2.6 * cols, 5.4), layout="constrained")
  axes = fig.subplots(2, cols)
  for s, scheme in enumerate(cfg.schemes):
    g = grads[scheme]
    for i in range(cols):
      ax, edges = axes[s, i], g["edges"][i]
      ax.bar(edges[:-1], g["counts"][i], width=np.diff(edges), align="edge", color=f"C{s}", lw=0)
      ax.set_title(f"layer {i + 1} ({fans[i]}x{cfg.widths[i]})\n{int(g['distinct'][0, i])} distinct "
                   "values", fontsize=9)
      ax.tick_params(labelsize=7)
      ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
      ax.xaxis.get_offset_text().set_fontsize(7)
      if i == 0:
        ax.set_ylabel(f"{'constant 0.005' if s == 0 else cfg.baseline}\nentries per bin", fontsize=9)
  fig.supxlabel("weight gradient dL/dW (nats per unit weight; each panel its own range)", fontsize=10)
  return fig


def main(argv: list[str] | None = None) -> int:
  out = gallery.Output.from_argv(__doc__, NAME, Config(), TINY, argv)
  cfg = out.config
  if out.finished():
    return 0
  ds, skipped = load_data(cfg.data)
  found = out.cached("measurements", {"config": dataclasses.asdict(cfg), "data": ds.name},
                     lambda: measure(cfg, ds))
  grads = {scheme: {k.split("_", 1)[1]: v for k, v in found.items() if k.startswith(f"grad{s}_")}
           for s, scheme in enumerate(cfg.schemes)}
  units = found
  at_init, trained, members = _rows(cfg, grads, units)
  tried = [name.split(":", 1)[0] for name in skipped]
  data_note = (f"Data: {ds.name} ({ds.source})"
               + (f"; {', '.join(tried)} not found (summary.json: data_fallback)" if tried else "")
               + ".")
  setting = (f"{data_note} MLP {'-'.join(map(str, (int(np.prod(ds.feature_shape)), *cfg.widths)))}, "
             f"{cfg.activation}.")
  out.table(_table_rows(at_init, ("scheme", "layer"), ("grad_distinct", "grad_spread_ulps"), 0),
            "gradient_distinct", by=("scheme", "layer"), digits=1,
            setting=f"One backward pass of the mean cross-entropy on {cfg.examples} training examples "
            "at initialization; grad_distinct: distinct float32 values of dL/dW in the layer; "
            "grad_spread_ulps: (max - min) / (float32 eps * max |entry|). " + setting)
  out.table(_table_rows(trained, ("scheme", "layer"), ("distinct_units", "unit_spread_ulps"),
                        cfg.epochs),
            "units_after_training", by=("scheme", "layer"), digits=1,
            setting=f"Hidden layers after {cfg.epochs} epoch(s) of SGD with momentum {cfg.momentum}, lr "
            f"{cfg.lr}, batch {cfg.batch_size}; distinct_units: units whose incoming weights and bias "
            "are equal entry for entry in float32 (of widths "
            f"{', '.join(map(str, cfg.widths[:-1]))}); unit_spread_ulps: the largest deviation of "
            "any unit from the first, in float32 ulps of the first's largest entry. " + setting)
  out.table(_table_rows(members, ("scheme",), tr.METRICS, cfg.epochs), "accuracy_after_training",
            by=("scheme",), setting=setting)
  fig = gradient_figure(cfg, grads, ds)
  out.figure(fig, "gradient_histograms",
             f"Histograms of dL/dW per layer after one backward pass on {cfg.examples} {ds.name} "
             f"training images (seed {cfg.seeds[0]}; each panel its own symmetric range, {cfg.bins} "
             "bins). Top: every weight and bias 0.005; bottom: he_normal. A single bar means all "
             "entries of the layer are equal (to the float32 rounding the title's count shows).")
  const, base = cfg.schemes
  fans = (int(np.prod(ds.feature_shape)), *cfg.widths[:-1])
  hidden = slice(1, len(cfg.widths) - 1)
  g = grads[const]
  summary_units = {s: units["distinct_units"][j * len(cfg.seeds):(j + 1) * len(cfg.seeds)]
                   for j, s in enumerate(cfg.schemes)}
  out.summary({
      "data": ds.name, "data_source": ds.source, "data_fallback": skipped,
      "widths": [int(np.prod(ds.feature_shape)), *cfg.widths],
      "constant_grad_distinct_per_layer": g["distinct"][0].astype(int).tolist(),
      "constant_grad_value_hidden_layers": g["hi"][0, hidden].tolist(),
      "constant_grad_spread_ulps_hidden_max": float(np.max(g["spread"][:, hidden])),
      "constant_grad_first_layer_row_spread_ulps": float(np.max(g["row_spread"][:, 0])),
      "constant_grad_last_layer_col_spread_ulps": float(np.max(g["col_spread"][:, -1])),
      "baseline_grad_distinct_per_layer": grads[base]["distinct"][0].astype(int).tolist(),
      "grad_entries_per_layer": [a * b for a, b in zip(fans, cfg.widths, strict=True)],
      "constant_distinct_units_after_training": summary_units[const].tolist(),
      "baseline_distinct_units_after_training": summary_units[base].tolist(),
      "constant_unit_spread_ulps_max": float(np.max(units["unit_spread"][:len(cfg.seeds)])),
      "test_acc": {s: float(np.mean(units["metrics"][j * len(cfg.seeds):(j + 1) * len(cfg.seeds), 3]))
                   for j, s in enumerate(cfg.schemes)},
  })
  return 0


if __name__ == "__main__":
  raise SystemExit(gallery.guarded(main))
