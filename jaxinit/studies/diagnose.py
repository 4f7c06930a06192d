"""Diagnostics of a population at initialization, on disk: what ``jaxinit diagnose`` runs.

``run(config, folder)`` initializes every member (schemes x seeds x scales), measures each layer on a
batch of the training data (:func:`jaxinit.studies.measure.diagnose`) and the input-output Jacobian's
singular values at the first example, and writes into ``folder``:

* ``diagnostics.json``: the config, the examples used, the histograms' bin edges, every record (with
  its histogram), the singular values and the environment; the folder's marker
  (:func:`jaxinit.results.folders.prepare`);
* ``diagnostics.csv``: the records without histograms, one row per member x layer x quantity;
* ``hist_<group>_{weight,preact,act,grad_preact,grad_weight}.png`` (the first seed's histograms,
  one panel per layer, each layer on its own range unless ``ranges="shared"``),
  ``kernel_<group>.png`` (``G(l)`` through depth over the seeds, with the infinite-width kernel
  recursion at the scheme's per-layer variances where theory has one:
  :mod:`jaxinit.schemes.predictions`) and ``jacobian_spectrum.png``, a group being a scheme, or a scheme
  and a scale when several scales are run (``he_normal_scale=2``).

It returns a :class:`DiagnoseResult`: the rows, the per-layer table of means over seeds (with the
ensemble statistic ``E z^4 / E[z^2]^2`` over the seeds' networks at the first example, and
finite-width theory's value beside it) and its Markdown text. Everything that can fail on the
input (the config, the data, the members, the model on the data) fails before the folder is
touched.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxinit import data as datasets
from jaxinit import names
from jaxinit.engine import placement
from jaxinit.engine import population as pop
from jaxinit.nets import models, protocol
from jaxinit.results import folders, plots, provenance, stats, tables
from jaxinit.schemes import predictions
from jaxinit.studies import measure, sweep

__all__ = ["MARKER", "DiagnoseConfig", "DiagnoseResult", "run"]

MARKER = "diagnostics.json"
"""The file that marks a folder as holding diagnostics."""

COLUMNS = (("kernel", "preact", "G(l) = mean z^2", ".4g"), ("std", "preact", "std z", ".4g"),
           ("grad_norm", "grad_preact", "E ||dL/dz||^2", ".4g"),
           ("dead_frac", "act", "dead", ".2f"), ("saturated_frac", "act", "saturated", ".2f"))
"""The table's columns: (record field, quantity whose records hold it, header, format)."""


def _int(name: str, value: Any, minimum: int) -> int:
  return names.check_int(name, "DiagnoseConfig", value, minimum)


@dataclasses.dataclass(frozen=True)
class DiagnoseConfig:
  """Everything that decides a diagnosis's numbers (where its data lives does not).

  The dataset and scheme names are stored canonical, seeds as ints and scales as floats (as
  :class:`jaxinit.engine.population.Member` holds them), so equal populations have equal configs.

  Attributes:
    data: dataset name (:func:`jaxinit.data.load`).
    data_seed: the generated sets' seed (ignored by the image sets), ``>= 0``.
    normalize: how inputs are scaled (:data:`jaxinit.data.NORMALIZATIONS`); None: the dataset's
      default.
    model: the architecture.
    schemes, seeds, scales: the population (:func:`jaxinit.engine.population.grid`; lr and momentum do
    not enter a diagnosis at initialization).
    examples: training examples in the batch, ``>= 1`` (all of them if the set is smaller).
    bins: histogram bins, ``>= 1``.
    ranges: histogram ranges, ``"layer"`` (each layer its own) or ``"shared"``
      (:func:`jaxinit.studies.measure.diagnose`).
    batch_norm_mode: ``"train"`` (BatchNorm with the batch's statistics, as in the first training
      step) or ``"eval"`` (the running statistics).

  Raises:
    ValueError: an unknown dataset, a value out of range, a population
      :func:`jaxinit.engine.population.grid` refuses (unknown scheme, duplicates, bad seed or scale), or
      a per-layer scheme for another number of layers than the model's.

  >>> cfg = DiagnoseConfig(data="moons", schemes=("he_normal", "zeros"), seeds=(0, 1), scales=(1, 2))
  >>> len(cfg.members()), cfg.group_keys(), cfg.scales
  (8, ('scheme', 'scale'), (1.0, 2.0))
  """

  data: str = "moons"
  data_seed: int = 0
  normalize: str | None = None
  model: models.ModelConfig | protocol.Spec = dataclasses.field(default_factory=models.ModelConfig)
  schemes: tuple[str, ...] = ("zeros", "normal(stddev=10.0)", "he_normal")
  seeds: tuple[int, ...] = tuple(range(32))
  scales: tuple[float, ...] = (1.0,)
  examples: int = 256
  bins: int = 50
  ranges: str = "layer"
  batch_norm_mode: str = "train"

  def __post_init__(self) -> None:
    object.__setattr__(self, "data", datasets.canonical(self.data))
    object.__setattr__(self, "normalize", datasets.check_normalize(self.data, self.normalize))
    if not isinstance(self.model, models.ModelConfig | protocol.Spec):
      raise ValueError("model must be a jaxinit.nets.models.ModelConfig or a user's model "
                       f"(jaxinit.nets.protocol.Spec); got {type(self.model).__name__}")
    for field in ("schemes", "seeds", "scales"):
      value = getattr(self, field)
      if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ValueError(f"{field} must be a sequence, e.g. a tuple; got {value!r}")
      object.__setattr__(self, field, tuple(value))
    object.__setattr__(self, "data_seed", _int("data_seed", self.data_seed, 0))
    object.__setattr__(self, "examples", _int("examples", self.examples, 1))
    object.__setattr__(self, "bins", _int("bins", self.bins, 1))
    for field, accepted in (("ranges", measure.RANGES),
                            ("batch_norm_mode", measure.BATCH_NORM_MODES)):
      if getattr(self, field) not in accepted:
        raise ValueError(f"unknown {field}={getattr(self, field)!r}; accepted: "
                         f"{', '.join(accepted)}")
    if isinstance(self.model, models.ModelConfig) and len(self.model.widths) < 2:
      raise ValueError(f"diagnose measures hidden layers; the model {self.model.widths} has only its "
                       "readout; accepted: at least one hidden width, e.g. --widths 64,1")
    members = self.members()  # validates the population; canonical names and numbers below
    pop.check_layers(self.model, self.schemes)
    if isinstance(self.model, models.ModelConfig):
      pop.check_activation(self.model, self.schemes)
    for field, attr in (("schemes", "scheme"), ("seeds", "seed"), ("scales", "scale")):
      object.__setattr__(self, field, tuple(dict.fromkeys(getattr(m, attr) for m in members)))

  def members(self) -> tuple[pop.Member, ...]:
    """The population, scheme-major then scale then seed (:func:`jaxinit.engine.population.grid`)."""
    return pop.grid(self.schemes, self.seeds, scales=self.scales)

  def group_keys(self) -> tuple[str, ...]:
    """The record keys the table groups members by: the scheme, and the scale where several."""
    return ("scheme", "scale") if len(self.scales) > 1 else ("scheme",)

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, eq=False)
class DiagnoseResult:
  """What :func:`run` measured and wrote.

  Attributes:
    folder: the output folder.
    config: the config run.
    examples: the training examples used, ``min(config.examples, N)``.
    rows: :func:`jaxinit.studies.measure.to_rows` of the records, the rows of ``diagnostics.csv``.
    table: one dict per group (:meth:`DiagnoseConfig.group_keys`) and layer, in order of first
      appearance (:func:`jaxinit.results.stats.group`): the group keys, ``layer``, ``n`` (seeds), for
      each field ``f`` of :data:`COLUMNS`, ``f_mean``, ``f_std``, ``f_ci95`` and ``f_n`` over the
      seeds where it applies (NaN where it applies to none), and ``ensemble_ratio``,
      ``ensemble_ratio_se`` (:func:`jaxinit.studies.measure.ensemble_moments` over the group's
      networks at the first example; NaN for one seed or with BatchNorm) and
      ``ensemble_ratio_theory`` (:func:`jaxinit.schemes.predictions.fourth_moment_prediction`, NaN
      where there is none).
    figures: the figures written.
    markdown: the table in Markdown, a blank line and its caption line (no trailing newline).
    closing: the line saying what was written where.
  """

  folder: Path
  config: DiagnoseConfig
  examples: int
  rows: list[dict[str, Any]]
  table: list[dict[str, Any]]
  figures: tuple[Path, ...]
  markdown: str
  closing: str

  def text(self) -> str:
    """What ``jaxinit diagnose`` prints: :attr:`markdown`, a blank line and :attr:`closing`."""
    return f"{self.markdown}\n\n{self.closing}"


def _table(rows: list[dict[str, Any]], by: tuple[str, ...]) -> list[dict[str, Any]]:
  """Statistics over seeds per (group, layer) of the :data:`COLUMNS` fields, groups in order
  (:func:`jaxinit.results.stats.group`, each field over the members where it applies)."""
  units: dict[tuple, dict[str, Any]] = {}  # one row per member and layer, all quantities
  for r in rows:
    if r["quantity"] in {quantity for _, quantity, _, _ in COLUMNS}:
      unit = units.setdefault((r["member"], r["layer"]), {
          **{k: r[k] for k in by}, "layer": r["layer"],
          **{field: math.nan for field, _, _, _ in COLUMNS}})
      unit.update({field: r[field] for field, quantity, _, _ in COLUMNS
                   if quantity == r["quantity"]})
  return stats.group(units.values(), (*by, "layer"), [f for f, _, _, _ in COLUMNS], jointly=False)


def _ensemble(table: list[dict[str, Any]], config: DiagnoseConfig, members: Sequence[pop.Member],
              variables_M: dict, x_one: np.ndarray) -> None:
  """Adds ``ensemble_ratio``, ``ensemble_ratio_se`` and ``ensemble_ratio_theory`` to the table's
  rows (in place), each group's from its networks at the input ``x_one``."""
  by, depth = config.group_keys(), config.model.depth
  found: dict[tuple, tuple[np.ndarray, ...]] = {}
  for idx in _groups(members, by).values():
    m = members[idx[0]]
    ratio = se = prediction = np.full(depth, np.nan)
    if len(idx) >= 2 and not config.model.batch_norm:
      ens = measure.ensemble_moments(config.model, _take(variables_M, idx), x_one)
      ratio, se = ens.ratio_L, ens.ratio_se_L
      theory = predictions.fourth_moment_prediction(m.scheme, config.model, x_one.shape,
                                                      x_one, m.scale)
      prediction = prediction if theory is None else theory
    found[tuple(getattr(m, k) for k in by)] = (ratio, se, prediction)
  for row in table:
    ratio, se, prediction = (v[row["layer"] - 1] for v in found[tuple(row[k] for k in by)])
    row.update(ensemble_ratio=float(ratio), ensemble_ratio_se=float(se),
               ensemble_ratio_theory=float(prediction))


def _take(variables_M: dict, idx: Sequence[int]) -> dict:
  """The members ``idx`` of stacked variables."""
  return jax.tree.map(lambda a: a[np.asarray(idx)], variables_M)


def _markdown(table: list[dict[str, Any]], by: tuple[str, ...], seeds: int, examples: int,
              data: str) -> str:
  keys = (*by, "layer")

  def ratio(row: dict[str, Any]) -> str:
    if math.isnan(row["ensemble_ratio"]):
      return "-"
    return f"{row['ensemble_ratio']:.3f} ± {row['ensemble_ratio_se']:.3f}"

  body = [[f"{row[k]:g}" if isinstance(row[k], float) else str(row[k]) for k in keys]
          + [format(row[f"{field}_mean"], fmt).replace("nan", "-") for field, _, _, fmt in COLUMNS]
          + [ratio(row), format(row["ensemble_ratio_theory"], ".3f").replace("nan", "-")]
          for row in table]
  caption = (f"Each cell is the mean over the {seeds} seed{'s' if seeds > 1 else ''} of its row, at "
             f"initialization, on {examples} {data} training examples: G(l) = mean z(l)^2 over units "
             "and examples; std z, the std of z(l); E ||dL/dz||^2, the squared norm of one example's "
             "loss gradient at z(l), averaged over examples; dead, the fraction of relu units (conv "
             "channels) <= 0 on every example; saturated, the fraction of tanh outputs with |s| > "
             "0.99 or sigmoid outputs outside [0.01, 0.99]. E z^4/E[z^2]^2 is the ensemble "
             f"statistic over the {seeds} networks at the first example (± its standard error, "
             "itself noisy below ~100 networks), "
             "3 for Gaussian preactivations; theory, its finite-width prediction (Gaussian weights, "
             "jaxinit.theory.finite_width). - where a column does not apply.")
  return tables.markdown([*keys, *(header for _, _, header, _ in COLUMNS),
                          "E z^4/E[z^2]^2", "theory"], body, caption, left=1).rstrip("\n")


def _groups(members: Sequence[pop.Member], by: tuple[str, ...]) -> dict[str, list[int]]:
  """Figure label (the scheme, with ``scale=`` when several) -> member indices, in order."""
  out: dict[str, list[int]] = {}
  for k, m in enumerate(members):
    label = m.scheme if by == ("scheme",) else f"{m.scheme} scale={m.scale:g}"
    out.setdefault(label, []).append(k)
  return out


def _figures(folder: Path, config: DiagnoseConfig, members: Sequence[pop.Member],
             diag: measure.Diagnostics, rows: list[dict[str, Any]], sv_MK: np.ndarray,
             x: np.ndarray) -> list[Path]:
  figures = []
  groups = _groups(members, config.group_keys())
  ranges = "each layer its own range" if config.ranges == "layer" else "one range for all layers"
  q0 = np.mean(np.asarray(x, np.float64).reshape(len(x), -1) ** 2, axis=1)
  for label, idx in groups.items():
    k, slug = idx[0], folders.slug(label)
    for quantity in measure.QUANTITIES:
      edges, counts = measure.histograms(diag, k, quantity)
      layers = sorted({r["layer"] for r in rows if r["quantity"] == quantity})
      figures.append(folder / f"hist_{slug}_{quantity}.png")
      plots.histogram_grid(edges, counts, figures[-1], xlabel=quantity.replace("_", " "),
                           title=f"{label}, seed {members[k].seed}: {quantity} per layer "
                           f"({ranges})", labels=[f"layer {r}" for r in layers])
    kernel_SL = np.array([[r["kernel"] for r in rows if r["member"] == i and r["quantity"] == "preact"]
                          for i in idx])
    variances = predictions.layer_variances(members[k].scheme, config.model, x.shape[1:],
                                              members[k].scale)
    theory = None if variances is None else predictions.kernel_prediction(
        config.model.activation, *variances, q0).mean(axis=0)
    figures.append(folder / f"kernel_{slug}.png")
    plots.depth_profile(theory, kernel_SL, figures[-1], "G(l) = mean z(l)^2", title=label,
                        log=bool(np.all(kernel_SL > 0)))
  return figures + _spectrum(folder, groups, sv_MK)


def _spectrum(folder: Path, groups: dict[str, list[int]], sv_MK: np.ndarray) -> list[Path]:
  """The Jacobian spectrum figure (squared singular values per group), unless all are zero."""
  eig = {label: sv_MK[idx] ** 2 for label, idx in groups.items()}
  eig = {label: v for label, v in eig.items() if np.any(v > 0)}
  if not eig:
    return []
  path = folder / "jacobian_spectrum.png"
  plots.jacobian_spectrum(eig, path, title="input-output Jacobian at one input")
  return [path]


def _stages(start: str) -> Callable[[str], None]:
  """Says ``start`` on stderr, and returns a function saying each next stage with the seconds
  since the start (a long diagnosis shows where it is, in a terminal and in a log file)."""
  t0 = time.perf_counter()
  print(start, file=sys.stderr, flush=True)
  return lambda text: print(f"  {time.perf_counter() - t0:6.1f} s  {text}", file=sys.stderr,
                            flush=True)


def _loaded(config: DiagnoseConfig, folder: Path, data_dir: str | Path | None
            ) -> tuple[tuple[pop.Member, ...], Callable[[str], None], datasets.Dataset, int]:
  """The members, the stage printer (after saying what runs), the dataset and the examples used."""
  members = config.members()
  stage = _stages(f"diagnose: {len(members)} members, {config.data}, "
                  f"{sweep.model_text(config.model)} -> {folder}")
  placement.check_data(config.data, data_dir)
  dataset = datasets.load(config.data, seed=config.data_seed, data_dir=data_dir,
                          normalize=config.normalize)
  return members, stage, dataset, min(config.examples, len(dataset.y_train))


def run(config: DiagnoseConfig, folder: str | Path, *, data_dir: str | Path | None = None,
        overwrite: bool = False, figures: bool = True) -> DiagnoseResult:
  """Diagnoses the population of ``config`` at initialization and writes the result into ``folder``.

  Args:
    config: what to diagnose.
    folder: the output folder (:func:`jaxinit.results.folders.resolve` makes one from
    ``--out``/``--name``).
    data_dir: the image sets' folder (:func:`jaxinit.data.load`); the toy sets ignore it.
    overwrite: replace diagnostics already in ``folder`` (never a folder without ``diagnostics.json``).
    figures: draw the figures (about half a second each on a CPU); without, only the JSON and CSV.

  Returns:
    A :class:`DiagnoseResult`; its :meth:`~DiagnoseResult.text` is what ``jaxinit diagnose`` prints.

  Raises:
    ValueError: a folder the rules of :func:`jaxinit.results.folders.prepare` refuse (checked
      first unless ``overwrite``), data that cannot be loaded (:class:`jaxinit.data.DataError`) or
      is larger than the memory, a model that does not fit the data (input shape, labels outside
      its outputs); all raised before the folder is touched.

  Example (``result.text()`` is the table, its caption and where the files are)::

    cfg = DiagnoseConfig(model=models.ModelConfig(widths=(8, 1)), schemes=("he_normal",),
                         seeds=(0, 1), examples=32, bins=10)
    result = run(cfg, "runs/diagnose-moons-mlp")
    result.table[0]  # {'scheme': 'he_normal', 'layer': 1, 'n': 2, 'kernel': ..., ...}
  """
  if not isinstance(config, DiagnoseConfig):
    raise ValueError(f"config must be a DiagnoseConfig; got {type(config).__name__}")
  folder = Path(folder)
  if not overwrite:  # fail fast; without overwrite, prepare deletes nothing
    folders.prepare(folder, MARKER, what="diagnostics")
  if isinstance(config.model, protocol.Spec):
    return _run_any(config, folder, data_dir, overwrite, figures)
  members, stage, dataset, n = _loaded(config, folder, data_dir)
  stage("data loaded; initializing the members")
  variables_M = pop.init_params(config.model, members, dataset.feature_shape,
                                pop.init_batch(dataset.x_train))
  stage(f"initialized; measuring every layer on {n} examples")
  diag = measure.diagnose(config.model, members, variables_M, dataset.x_train[:n],
                          dataset.y_train[:n], bins=config.bins, ranges=config.ranges,
                          batch_norm=config.batch_norm_mode)
  stage("layers measured; the input-output Jacobians' singular values")
  sv_MK = np.asarray(measure.jacobian_singular_values(config.model, variables_M,
                                                      dataset.x_train[:1]))
  rows = measure.to_rows(diag)
  by = config.group_keys()
  table = _table(rows, by)
  stage("Jacobians done; the ensemble fourth moments")
  _ensemble(table, config, members, variables_M, np.asarray(dataset.x_train[0]))
  stage("writing the records" + (" and figures" if figures else ""))
  if overwrite:
    folders.prepare(folder, MARKER, overwrite=True, what="diagnostics")
  folder.mkdir(parents=True, exist_ok=True)
  folders.write_json(folder / MARKER, {
      "config": config.to_json(), "examples_used": n,
      "edges": {q: np.asarray(e).tolist() for q, e in diag.edges.items()},
      "records": diag.records, "jacobian_singular_values": sv_MK.tolist(),
      "environment": provenance.environment()})
  folders.atomic_write(folder / "diagnostics.csv", tables.to_csv(rows))
  drawn = _figures(folder, config, members, diag, rows, sv_MK, dataset.x_train[:n]) if figures else []
  seeds = len(config.seeds)
  closing = (f"means over {seeds} seeds at init, on {n} {config.data} examples; diagnostics.json, "
             f"diagnostics.csv and {len(drawn)} figures in {folder}")
  return DiagnoseResult(folder=folder, config=config, examples=n, rows=rows, table=table,
                        figures=tuple(drawn), markdown=_markdown(table, by, seeds, n, config.data),
                        closing=closing)


ANY_COLUMNS = (("kernel", "G(l) = mean z^2", ".4g"), ("std", "std z", ".4g"))
"""The table's columns for a user's model (record field, header, format)."""


def _run_any(config: DiagnoseConfig, folder: Path, data_dir: str | Path | None, overwrite: bool,
             figures: bool) -> DiagnoseResult:
  """:func:`run` for a user's model: each layer's output (the modules that own a parameter, in
  call order: :meth:`jaxinit.nets.protocol.Model.layers`) at initialization, ``G(l) = mean z^2``
  and ``std z`` per member, the ensemble fourth moment over each group's networks at the first
  example, and the input-output Jacobian's singular values. The built-in models' histograms,
  gradients, dead and saturated fractions and theory overlays need their layer structure and
  activation, which a user's model does not declare."""
  members, stage, dataset, n = _loaded(config, folder, data_dir)
  x = np.asarray(dataset.x_train[:n])
  net = config.model.build(x)
  pop.check_layers(net, config.schemes, dataset.feature_shape)
  stage("data loaded; initializing the members")
  variables_M = pop.init_params(net, members, dataset.feature_shape,
                                pop.init_batch(dataset.x_train))
  stage(f"initialized; measuring every layer's output on {n} examples")
  names, out_MLQ = measure.layer_outputs(net, variables_M, x)
  sv_MK = np.asarray(measure.jacobian_singular_values(net, variables_M, dataset.x_train[:1]))
  rows = [{"member": k, "scheme": m.scheme, "seed": m.seed, "scale": m.scale, "layer": i + 1,
           "module": name, "kernel": float(out_MLQ[k, i, 0]), "std": float(out_MLQ[k, i, 1])}
          for k, m in enumerate(members) for i, name in enumerate(names)]
  by = config.group_keys()
  table = stats.group(rows, (*by, "layer"), [f for f, _, _ in ANY_COLUMNS], jointly=False)
  groups = _groups(members, by)
  found = {}
  for idx in groups.values():
    ratio = se = np.full(len(names), np.nan)
    if len(idx) >= 2:
      ens = measure.ensemble_moments(net, _take(variables_M, idx), np.asarray(dataset.x_train[0]))
      ratio, se = ens.ratio_L, ens.ratio_se_L
    found[tuple(getattr(members[idx[0]], k) for k in by)] = (ratio, se)
  for row in table:
    ratio, se = (v[row["layer"] - 1] for v in found[tuple(row[k] for k in by)])
    row.update(module=names[row["layer"] - 1], ensemble_ratio=float(ratio),
               ensemble_ratio_se=float(se))
  stage("writing the records" + (" and figures" if figures else ""))
  if overwrite:
    folders.prepare(folder, MARKER, overwrite=True, what="diagnostics")
  folder.mkdir(parents=True, exist_ok=True)
  folders.write_json(folder / MARKER, {
      "config": config.to_json(), "examples_used": n, "layers": list(names), "records": rows,
      "jacobian_singular_values": sv_MK.tolist(), "environment": provenance.environment()})
  folders.atomic_write(folder / "diagnostics.csv", tables.to_csv(rows))
  drawn = []
  if figures:
    for label, idx in groups.items():
      drawn.append(folder / f"kernel_{folders.slug(label)}.png")
      kernel_SL = out_MLQ[idx, :, 0]
      plots.depth_profile(None, kernel_SL, drawn[-1], "G(l) = mean z(l)^2", title=label,
                          log=bool(np.all(kernel_SL > 0)))
    drawn += _spectrum(folder, groups, sv_MK)
  seeds = len(config.seeds)
  body = [[f"{row[k]:g}" if isinstance(row[k], float) else str(row[k]) for k in by]
          + [str(row["layer"]), row["module"]]
          + [format(row[f"{f}_mean"], fmt) for f, _, fmt in ANY_COLUMNS]
          + ["-" if math.isnan(row["ensemble_ratio"]) else
             f"{row['ensemble_ratio']:.3f} ± {row['ensemble_ratio_se']:.3f}"] for row in table]
  caption = (f"Each cell is the mean over the {seeds} seed{'s' if seeds > 1 else ''} of its row, at "
             f"initialization, on {n} {config.data} training examples, for each layer (a module "
             "owning a parameter, in the order the forward pass calls it): G(l) = mean z(l)^2 over "
             "its outputs and the examples; std z, their std. E z^4/E[z^2]^2 is the ensemble "
             f"statistic over the {seeds} networks at the first example (± its standard error), 3 "
             "for Gaussian outputs. - where a column does not apply.")
  markdown = tables.markdown([*by, "layer", "module", *(h for _, h, _ in ANY_COLUMNS),
                              "E z^4/E[z^2]^2"], body, caption, left=len(by) + 2).rstrip("\n")
  closing = (f"means over {seeds} seeds at init, on {n} {config.data} examples; diagnostics.json, "
             f"diagnostics.csv and {len(drawn)} figures in {folder}")
  return DiagnoseResult(folder=folder, config=config, examples=n, rows=rows, table=table,
                        figures=tuple(drawn), markdown=markdown, closing=closing)
