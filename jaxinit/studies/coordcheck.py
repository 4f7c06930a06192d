r"""The coordinate check: how the size of every layer's activations, and of their change in training,
scales with width.

A parametrization admits a feature-learning limit when, at every layer, the coordinates of the
preactivations stay :math:`O(1)` as the width grows and their change over the first steps of
training is :math:`\Theta(1)` (Yang et al. 2022, "Tensor Programs V", §6 and Fig. 5; microsoft/mup's
``coord_check``). Under SP with Adam the hidden and output changes grow like the width (an update
of size :math:`\eta` per entry adds up over :math:`n` inputs); under muP they do not, and muP's
logits start at :math:`O(n^{-1/2})` (its readout variance is :math:`1/\mathrm{fan\_in}^2`).

:func:`run` trains, for each width, a population of seeds with full-batch steps on one fixed batch
(the engine of :mod:`jaxinit.engine.train`: the parametrization's multipliers and per-layer learning
rates included), and after every step measures each layer's sown preactivation :math:`z^{(l)}_t`
(``preact_<l>``: the output of ``layer_<l>`` in an MLP; in a residual MLP the stream at every
block, :class:`jaxinit.nets.models.ResMLP`) on that batch:

* ``size``: the root mean square of the coordinates, :math:`\sqrt{\overline{(z_t)^2}}`;
* ``change``: that of :math:`z_t - z_0`, the change since initialization.

:meth:`CoordCheck.slopes` fits :math:`\log(\mathrm{size}) = a + s \log(\mathrm{width})` by least
squares for every layer and step, on the seed-mean and on each seed (the spread over seeds is the
slope's noise). A slope near 0 is width-stable; near 1, growing like the width.

**Any model.** With a user's model (:class:`jaxinit.nets.protocol.Spec`: a factory and its width
argument) the layers measured are the modules that own a parameter (``body/0``, ``attn/query``,
``head``), each module's output as :meth:`jaxinit.nets.protocol.Model.capture` returns it, the
parametrization's roles inferred from two widths (:func:`jaxinit.nets.protocol.parametrize`).
:meth:`CoordCheck.to_frame` gives the measurements as a pandas DataFrame, one row per width, seed,
step and layer, as microsoft/mup's ``get_coord_data`` does.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import data as datasets
from jaxinit import names
from jaxinit import schemes as scheme_registry
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import models, protocol
from jaxinit.nets import parametrizations as pz
from jaxinit.results import folders, plots, tables
from jaxinit.studies.measure import layer_names

__all__ = ["CoordCheckConfig", "CoordCheck", "MARKER", "configs", "study", "run", "write",
           "slope_rows", "MEASURES"]

MEASURES = ("size", "change")


@dataclasses.dataclass(frozen=True)
class CoordCheckConfig:
  """One coordinate check.

  Attributes:
    model: the architecture, a built-in config or a user's :class:`jaxinit.nets.protocol.Spec`;
      its hidden widths (a spec's width argument) are replaced by each of ``widths``, and its
      parametrization (e.g. ``"mup(base_width=64)"``) is the one checked.
    widths: the hidden widths, increasing, at least two.
    data: the dataset (:func:`jaxinit.data.load`); the first ``batch`` training examples are the
      fixed batch trained on and measured.
    optimizer: the optimizer's name (:mod:`jaxinit.engine.optimizers`).
    lr: the learning rate at the base width (each layer's is scaled by the parametrization).
    steps: the training steps, >= 1.
    batch: examples in the fixed batch.
    seeds: the networks per width.
    scheme: the initialization scheme (the SP draw the parametrization rescales).
  """

  model: models.ModelConfig | protocol.Spec = dataclasses.field(
      default_factory=lambda: models.ModelConfig(widths=(64, 64, 64, 1)))
  widths: tuple[int, ...] = (64, 128, 256, 512, 1024)
  data: str = "moons"
  optimizer: str = "adam"
  lr: float = 0.01
  steps: int = 5
  batch: int = 64
  seeds: tuple[int, ...] = (0, 1, 2, 3)
  scheme: str = "he_normal"

  def __post_init__(self) -> None:
    object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
    if len(self.widths) < 2 or list(self.widths) != sorted(set(self.widths)):
      raise ValueError(f"widths must be at least two increasing hidden widths; got {self.widths}")
    object.__setattr__(self, "data", datasets.canonical(self.data))
    names.check_number("lr", "coordcheck", self.lr, 0.0, strict=True)
    for field, minimum in (("steps", 1), ("batch", 2)):
      names.check_int(field, "coordcheck", getattr(self, field), minimum)
    pop.grid([self.scheme], self.seeds)  # an unknown scheme or a bad seed fails here, not later
    object.__setattr__(self, "scheme", scheme_registry.get(self.scheme).name)
    if isinstance(self.model, models.ModelConfig) and self.model.batch_norm:
      raise ValueError("the coordinate check measures models without BatchNorm (its running "
                       "statistics after a few steps say little); accepted: batch_norm=False")
    for w in self.widths:  # a parametrization that cannot scale this model fails here, not later
      self.model.at_width(w)
    tr.TrainConfig(optimizer=self.optimizer)


@dataclasses.dataclass(frozen=True)
class CoordCheck:
  """What :func:`run` measured.

  Attributes:
    config: the check.
    layer_names: the layers measured: ``preact_<l>`` of a built-in model, the module paths of a
      user's.
    size_WSTL: RMS of each layer's preactivation, shape ``(widths, seeds, steps + 1, layers)``;
      step 0 is the initialization.
    change_WSTL: RMS of its change since step 0, the same shape (zero at step 0).
    loss_WST: the training loss on the batch before each step and after the last,
      ``(widths, seeds, steps + 1)``.
  """

  config: CoordCheckConfig
  size_WSTL: np.ndarray
  change_WSTL: np.ndarray
  loss_WST: np.ndarray
  layer_names: tuple[str, ...] = ()

  @property
  def modules(self) -> tuple[str, ...]:
    """Each layer's name: :attr:`layer_names`, or ``preact_<l>`` where none were recorded."""
    return self.layer_names or tuple(f"preact_{i}" for i in range(self.layers))

  def to_frame(self) -> Any:
    """The measurements as a pandas DataFrame: columns ``width``, ``seed``, ``step``, ``layer``
    (index), ``module`` (name), ``size``, ``change``, ``loss``; one row per width, seed, step and
    layer (microsoft/mup's ``get_coord_data`` form)."""
    import pandas as pd

    W, S, T, L = self.size_WSTL.shape
    w, s, t, k = np.meshgrid(np.arange(W), np.arange(S), np.arange(T), np.arange(L), indexing="ij")
    return pd.DataFrame({
        "width": np.asarray(self.config.widths)[w.ravel()],
        "seed": np.asarray(self.config.seeds)[s.ravel()], "step": t.ravel(), "layer": k.ravel(),
        "module": np.asarray(self.modules, dtype=object)[k.ravel()], "size": self.size_WSTL.ravel(),
        "change": self.change_WSTL.ravel(), "loss": self.loss_WST[w, s, t].ravel()})

  @property
  def layers(self) -> int:
    return self.size_WSTL.shape[-1]

  def slopes(self, measure: str = "change") -> tuple[np.ndarray, np.ndarray]:
    """The log-log slope against width of each layer at each step.

    Args:
      measure: ``"size"`` or ``"change"``.

    Returns:
      ``(slope_TL, spread_TL)``, both ``(steps + 1, layers)``: the slope of the seed-mean's log
      size, and the standard deviation over seeds of the per-seed slopes (NaN with one seed). The
      change's slope at step 0 is NaN.
    """
    if measure not in MEASURES:
      raise ValueError(f"unknown measure {measure!r}; accepted: {', '.join(MEASURES)}")
    return loglog_slopes(self.config.widths,
                         self.size_WSTL if measure == "size" else self.change_WSTL)

  def to_json(self) -> dict[str, Any]:
    """The config and the measured arrays (nested lists), for ``coordcheck.json``."""
    return {"config": dataclasses.asdict(self.config), "layer_names": list(self.layer_names),
            "size_WSTL": self.size_WSTL.tolist(),
            "change_WSTL": self.change_WSTL.tolist(), "loss_WST": self.loss_WST.tolist()}


@functools.lru_cache(maxsize=32)
def _measure(model_cfg: models.ModelConfig | protocol.Model, names: tuple[str, ...], loss: str
             ) -> Any:
  """``jit(vmap(variables, x, y -> (mean loss, (z_0, ..., z_{L-1}))))`` for stacked members on
  one batch, ``z`` the captured values ``names``."""
  model = protocol.of(model_cfg)

  def one(variables: Any, x: jax.Array, y: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    logits, sown = model.capture(variables, x)
    z = tuple(sown[name].astype(jnp.float32) for name in names)
    return jnp.mean(models.per_example_loss(logits, y, loss)[0]), z

  return jax.jit(jax.vmap(one, in_axes=(0, None, None)))


def _rms(z_MB: np.ndarray) -> np.ndarray:
  """The root mean square over all but the member axis: ``(M, ...) -> (M,)``."""
  return np.sqrt(np.mean(np.square(z_MB).reshape(z_MB.shape[0], -1), axis=1))


def configs(parametrizations: Sequence[str], widths: Sequence[int] | None = None, *, layers: int = 3,
            activation: str = "relu", model: str | None = None, model_args: str | None = None,
            **settings: Any) -> dict[str, CoordCheckConfig]:
  """One coordinate check per parametrization of an MLP with ``layers`` hidden layers, keyed by the
  parametrization's canonical name; its base width, where the name gives none, is the smallest of
  ``widths`` (as a width sweep's: :func:`jaxinit.studies.sweep.configure`).

  Args:
    parametrizations: names, e.g. ``("sp", "mup")``.
    widths: the hidden widths (default :class:`CoordCheckConfig`'s).
    layers, activation: the MLP's hidden layers; the readout has the dataset's width
      (:func:`jaxinit.data.num_outputs`).
    model, model_args: a user's model instead of the MLP, ``package.module:factory`` and its
      arguments as JSON (:class:`jaxinit.nets.protocol.Spec`; its ``width`` argument is set to
      each width).
    **settings: other :class:`CoordCheckConfig` fields (``data``, ``optimizer``, ``lr``,
      ``steps``, ``batch``, ``seeds``, ``scheme``); None keeps the default.

  >>> list(configs(["sp", "mup"], (64, 256)))
  ['sp', 'mup(base_width=64)']
  """
  given = {k: v for k, v in settings.items() if v is not None}
  widths = tuple(widths) if widths is not None else CoordCheckConfig.widths
  readout = datasets.num_outputs(given.get("data", CoordCheckConfig.data))
  out = {}
  for name in parametrizations:
    parametrization = pz.with_base(name, min(widths))
    if model is not None:
      net: models.ModelConfig | protocol.Spec = dataclasses.replace(
          protocol.Spec(model, model_args or "{}").at_width(widths[0]),
          parametrization=parametrization)
    else:
      net = models.ModelConfig(widths=(widths[0],) * layers + (readout,), activation=activation,
                               parametrization=parametrization)
    out[parametrization] = CoordCheckConfig(model=net, widths=widths, **given)
  return out


def run(config: CoordCheckConfig, *, data_dir: str | None = None, quiet: bool = False
        ) -> CoordCheck:
  """Measures a coordinate check (module docstring).

  Args:
    config: the check.
    data_dir: the image sets' IDX folder (:func:`jaxinit.data.load`).
    quiet: no progress line per width on stderr.

  Returns:
    The :class:`CoordCheck`.

  Raises:
    ValueError: a bad config or data that does not fit the model (e.g. the readout's width is not
      the number of classes).
  """
  dataset = datasets.load(config.data, data_dir=data_dir)
  if config.batch > len(dataset.y_train):
    raise ValueError(f"batch {config.batch} is larger than {config.data}'s training set "
                     f"({len(dataset.y_train)} examples)")
  x = jnp.asarray(dataset.x_train[:config.batch])
  y = jnp.asarray(dataset.y_train[:config.batch])
  batch = tr.DeviceData(x, y, x, y)  # full-batch steps on, and measured on, the same batch
  train_cfg = tr.TrainConfig(epochs=config.steps, batch_size=None, optimizer=config.optimizer)
  members = [pop.Member(config.scheme, s, lr=config.lr) for s in config.seeds]
  nets = [_net(config.model.at_width(width), x) for width in config.widths]
  names = layer_names(nets[0], x)
  m, depth = len(members), len(names)
  shape = (len(config.widths), m, config.steps + 1, depth)
  size, change = np.zeros(shape), np.zeros(shape)
  loss = np.zeros(shape[:3])
  for w, (width, model_cfg) in enumerate(zip(config.widths, nets, strict=True)):
    if layer_names(model_cfg, x) != names:
      raise ValueError(f"the model has other layers at width {width} than at {config.widths[0]}; "
                       "accepted: a model whose width changes only the layers' sizes")
    measure = _measure(model_cfg, names, train_cfg.loss)
    initial = tr.init_state(model_cfg, train_cfg, members, x)

    def record(t: int, state: tr.TrainState, z0: Any = None, w: int = w,
               measure: Any = measure) -> Any:
      loss_M, z = measure(jax.tree.map(lambda a: a[:m], tr.variables(state)), x, y)
      loss[w, :, t] = np.asarray(loss_M)
      z = [np.asarray(zi, np.float64) for zi in z]
      for i in range(depth):
        size[w, :, t, i] = _rms(z[i])
        if z0 is not None:
          change[w, :, t, i] = _rms(z[i] - z0[i])
      return z

    z0 = record(0, initial)
    for step, state, _ in tr.run(model_cfg, train_cfg, members, batch, initial):
      record(step, state, z0)
    if not quiet:
      print(f"coordcheck: width {width} done ({config.model.parametrization})", file=sys.stderr,
            flush=True)
  return CoordCheck(config, size, change, loss, names)


def _net(model: models.ModelConfig | protocol.Spec, x: Any) -> models.ModelConfig | protocol.Model:
  return model.build(x) if isinstance(model, protocol.Spec) else model


def loglog_slopes(widths: Sequence[int], values_WS: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The least-squares slope of ``log value`` against ``log width``.

  Args:
    widths: ``W`` widths.
    values_WS: positive values ``(W, S, ...)``, ``S`` seeds (networks) per width; a value that is
      zero or not finite is left out as NaN.

  Returns:
    ``(slope, spread)``, both ``(...)``: the slope of the seed-mean's log, and the standard deviation
    over seeds of the per-seed slopes (NaN with one seed).
  """
  x = np.log(np.asarray(widths, np.float64))
  x = x - x.mean()

  def fit(v_W: np.ndarray) -> np.ndarray:  # v: (W, ...) -> slopes (...)
    with np.errstate(divide="ignore", invalid="ignore"):
      y = np.log(v_W)
    y = np.where(np.isfinite(y), y, np.nan)
    return np.tensordot(x, y - y.mean(0), axes=(0, 0)) / np.dot(x, x)

  slope = fit(values_WS.mean(1))
  per_seed = fit(values_WS)  # (S, ...)
  spread = per_seed.std(0, ddof=1) if per_seed.shape[0] > 1 else np.full_like(slope, np.nan)
  return slope, spread


def slope_rows(checks: dict[str, CoordCheck]) -> list[dict[str, Any]]:
  """One row per (check, measure, step, layer): ``check``, ``measure``, ``step``, ``layer``,
  ``module`` (the layer's name), ``slope`` and ``spread`` (std over seeds of the per-seed slopes);
  the change at step 0 left out."""
  rows = []
  for label, check in checks.items():
    for measure in MEASURES:
      slope, spread = check.slopes(measure)
      for t in range(0 if measure == "size" else 1, slope.shape[0]):
        rows += [{"check": label, "measure": measure, "step": t, "layer": layer,
                  "module": check.modules[layer],
                  "slope": float(slope[t, layer]), "spread": float(spread[t, layer])}
                 for layer in range(check.layers)]
  return rows


MARKER = "coordcheck.json"
"""The file that marks a folder as holding coordinate checks."""


def study(configs: dict[str, CoordCheckConfig], folder: str | Path, *, data_dir: str | None = None,
          overwrite: bool = False) -> dict[str, Path]:
  """What ``jaxinit coordcheck`` runs: checks ``folder`` first (a folder holding coordinate checks
  is refused unless ``overwrite``, as a sweep's or diagnostics' is:
  :func:`jaxinit.results.folders.prepare`), then :func:`run` of each config and :func:`write`.

  Returns:
    The written paths by name, as :func:`write`.
  """
  folders.prepare(folder, MARKER, overwrite=overwrite, what="coordinate check")
  return write({name: run(config, data_dir=data_dir) for name, config in configs.items()}, folder)


def write(checks: dict[str, CoordCheck], folder: str | Path) -> dict[str, Path]:
  """Writes coordinate checks into ``folder``: ``coordcheck.json`` (configs and arrays),
  ``slopes.md`` and ``slopes.csv`` (:func:`slope_rows`; the Markdown shows the last step) and
  the figures ``coord_check_change.{png,pdf}`` and ``coord_check_size.{png,pdf}``
  (:func:`jaxinit.results.plots.coord_check`).

  Returns:
    The written paths by name.
  """
  folder = Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  rows = slope_rows(checks)
  paths = {"json": folders.write_json(folder / MARKER,
                                      {label: c.to_json() for label, c in checks.items()})}
  paths["csv"] = folders.atomic_write(folder / "slopes.csv", tables.to_csv(rows))
  last = {label: c.size_WSTL.shape[2] - 1 for label, c in checks.items()}
  body = [[r["check"], r["measure"], str(r["layer"]) if r["module"].startswith("preact_") else
           f"{r['layer']} ({r['module']})", f"{r['slope']:+.3f}", f"{r['spread']:.3f}"]
          for r in rows if r["step"] == last[r["check"]]]
  first = next(iter(checks.values())).config
  caption = (f"Log-log slope of each layer's RMS preactivation (size) and of its change since "
             f"initialization (change) against the hidden width ({', '.join(map(str, first.widths))})"
             f" after step {max(last.values())} of {first.optimizer} at lr {first.lr:g} on a fixed "
             f"batch of {first.batch} {first.data} examples; the spread is the std of the slope "
             f"over {len(first.seeds)} seeds. 0: width-stable; 1: growing like the width.")
  paths["md"] = folders.atomic_write(folder / "slopes.md", tables.markdown(
      ["check", "measure", "layer", "slope", "spread"], body, caption, left=3))
  for measure in MEASURES:
    fig = plots.coord_check(checks, measure)
    for ext in (".png", ".pdf"):
      key = f"coord_check_{measure}{ext}"
      paths[key] = folder / key
      plots.save(fig, paths[key])
  return paths
