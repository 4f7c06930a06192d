"""A sweep on disk: a population trained epoch by epoch, with records, checkpoints, tables, figures.

``run(config, folder)`` checks everything it can before it writes anything (the config, the data,
the memory the population needs: :func:`jaxinit.engine.placement.plan_population`), then writes into
``folder``:

* ``config.json`` (the :class:`SweepConfig`), ``members.json`` (the member table) and ``run.json``
  (environment, data folder, status, epochs done, the last checkpoint's epoch, wall times),
  rewritten at every checkpoint;
* ``records.jsonl``: one record per member per epoch (:data:`jaxinit.results.records.RECORD_FIELDS`),
  fsynced after every epoch;
* ``checkpoints/<epoch>/``: the population's train state (Orbax: padded and sharded as it trains,
  each process writing its shards; complete or absent, the newest ``keep_checkpoints`` kept:
  :mod:`jaxinit.engine.checkpoints`) every ``checkpoint_seconds``, after the last epoch, and when
  the run is stopped by SIGINT or SIGTERM (:mod:`jaxinit.engine.signals`); a folder of earlier
  versions holds ``checkpoint.msgpack`` instead, read to resume;
* when finished: ``table.{md,tex,csv}`` (final metrics per group: mean, std and 95% CI over seeds,
  with a caption), ``loss_curves.{png,pdf}`` and, for 2-D inputs, ``decision_boundary_<scheme>.png``.

Stopping: SIGINT or SIGTERM finish the epoch in flight, save a checkpoint of it, mark ``run.json``
``"interrupted"`` and raise :class:`jaxinit.engine.signals.Interrupted` (the CLI exits 130 or 143). A
kill (SIGKILL) keeps every finished epoch in ``records.jsonl`` and loses the epochs since the last
checkpoint. ``resume=True`` restores the last checkpoint, cuts the records back to its epoch and
continues; the result is bit-identical to an uninterrupted run, since epoch ``e``'s batches depend
only on seeds and ``e``. A run that stops before its first epoch leaves nothing that blocks a rerun.

Compiled programs: the population is padded to its size bucket (:func:`jaxinit.engine.placement.bucket`)
with copies of member 0 that never reach a record, so a second sweep with other seeds, schemes,
scales, learning rates or momenta, or another population size in the same bucket, compiles nothing.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import math
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxinit import data as datasets
from jaxinit import results
from jaxinit.engine import checkpoints, optimizers, placement, sharding, signals
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import models, parametrizations, protocol
from jaxinit.results import folders, metric_writer

__all__ = ["SweepConfig", "SweepResult", "default_config", "configure", "group_keys", "run",
           "load_config", "final_params", "read_finished"]

SPREAD = "ci95"
"""The spread every sweep table shows after the mean (the CSV has both std and ci95)."""


@dataclasses.dataclass(frozen=True)
class SweepConfig:
  """Everything that decides a sweep's numbers (where its data lives does not).

  Attributes:
    data: dataset name (:func:`jaxinit.data.load`), canonicalized.
    data_seed: the generated sets' seed (ignored by the image sets).
    normalize: how inputs are scaled (:data:`jaxinit.data.NORMALIZATIONS`); None (the default)
      becomes the dataset's own (:func:`jaxinit.data.default_normalize`).
    model: the architecture: a built-in model's config, or a user's model by name
      (:class:`jaxinit.nets.protocol.Spec`, ``--model package.module:factory``).
    train: how every member is trained.
    schemes, seeds, lrs, momenta, scales: the population grid (:func:`jaxinit.engine.population.grid`).

  Raises:
    ValueError: an unknown dataset or normalization, a scheme that does not fit the model
      (:func:`jaxinit.engine.population.check_layers`), an empty or repeated grid value, or
      several momenta for an optimizer without one. :func:`run` also refuses a readout other
      than the dataset's classes (:meth:`check_readout`).
  """

  data: str = "moons"
  data_seed: int = 0
  normalize: str | None = None
  model: models.ModelConfig | protocol.Spec = dataclasses.field(default_factory=models.ModelConfig)
  train: tr.TrainConfig = dataclasses.field(
      default_factory=lambda: tr.TrainConfig(epochs=300, batch_size=None))
  schemes: tuple[str, ...] = ("zeros", "normal(stddev=10.0)", "he_normal")
  seeds: tuple[int, ...] = tuple(range(32))
  lrs: tuple[float, ...] = (pop.DEFAULT_LR,)
  momenta: tuple[float, ...] = (pop.DEFAULT_MOMENTUM,)
  scales: tuple[float, ...] = (1.0,)

  def __post_init__(self) -> None:
    object.__setattr__(self, "data", datasets.canonical(self.data))
    object.__setattr__(self, "normalize", datasets.check_normalize(self.data, self.normalize))
    pop.check_axes(self.schemes, self.seeds, self.lrs, self.momenta, self.scales)
    pop.check_layers(self.model, self.schemes)
    if isinstance(self.model, models.ModelConfig):
      pop.check_activation(self.model, self.schemes)
    optimizer = optimizers.get(self.train.optimizer)
    if len(set(self.momenta)) > 1 and not optimizer.uses_momentum:
      raise ValueError(f"momenta {self.momenta} for {optimizer.name}, which has no momentum: those "
                       "members would train identically; accepted: one momentum, or the momentum "
                       "or nesterov optimizer")

  def net(self, x: Any) -> tr.Model:
    """What the engine trains for inputs like ``x``: the built-in config, or the user's model built
    (:meth:`jaxinit.nets.protocol.Spec.build`)."""
    return self.model if isinstance(self.model, models.ModelConfig) else self.model.build(x)

  def check_readout(self, outputs: int | None = None) -> None:
    """Refuses a readout width other than the dataset's classes (1 for two): extra logits would
    train toward classes no label has, without a word. (Diagnostics at init accept any.)

    Args:
      outputs: the model's outputs per example (a user's model: found from its shapes); None: the
        built-in model's last width.

    Raises:
      ValueError: the widths and what is accepted.
    """
    classes = datasets.num_classes(self.data)
    outputs = self.model.num_outputs if outputs is None else outputs
    if outputs != classes and not (outputs == 1 and classes == 2):
      raise ValueError(f"{self.data} has {classes} classes but the model has {outputs} outputs; "
                       f"accepted: a last width of {datasets.num_outputs(self.data)}"
                       + (f" (or {classes}: one logit per class)" if classes == 2 else ""))

  @property
  def size(self) -> int:
    """The number of members, known without building them."""
    return math.prod(len(axis) for axis in (self.schemes, self.seeds, self.lrs, self.momenta,
                                            self.scales))

  def members(self) -> tuple[pop.Member, ...]:
    return pop.grid(self.schemes, self.seeds, self.lrs, self.momenta, self.scales)

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def load_config(obj: dict[str, Any] | str | Path) -> SweepConfig:
  """The inverse of :meth:`SweepConfig.to_json`; ``obj`` may be the path of a ``config.json``.

  Raises:
    ValueError: ``obj`` is not a sweep's config (not JSON, not an object, or other settings).
  """
  source = f"{obj}" if isinstance(obj, str | Path) else "the object"
  accepted = "accepted: the config.json a sweep writes in its run folder"
  if isinstance(obj, str | Path):
    try:
      obj = json.loads(Path(obj).read_text())
    except json.JSONDecodeError as e:
      raise ValueError(f"{source} is not JSON ({e}); {accepted}") from None
  known = {f.name for f in dataclasses.fields(SweepConfig)}
  if not isinstance(obj, dict) or not {"model", "train"} <= obj.keys() <= known:
    what = (f"settings {', '.join(sorted(obj.keys() - known)) or 'without model and train'}"
            if isinstance(obj, dict) else f"a JSON {type(obj).__name__}")
    raise ValueError(f"{source} is not a sweep config ({what}); {accepted}")
  tup = lambda v: tuple(v) if isinstance(v, list) else v
  try:
    model = (protocol.Spec(**obj["model"]) if "target" in obj["model"] else
             models.ModelConfig(**{k: tup(v) for k, v in obj["model"].items()}))
    train = tr.TrainConfig(**obj["train"])
  except TypeError as e:  # a model or train setting this version does not know
    raise ValueError(f"{source} is not a sweep config ({e}); {accepted}") from None
  rest = {k: tup(v) for k, v in obj.items() if k not in ("model", "train")}
  return SweepConfig(model=model, train=train, **rest)


def stored_config(obj: dict[str, Any]) -> dict[str, Any]:
  """A run folder's ``config.json`` as this version writes it: settings added since it was written
  take their defaults (which reproduce the old behaviour), so such a run can be resumed."""
  return json.loads(json.dumps(load_config(obj).to_json()))


def default_config(data: str = "moons", kind: str = "mlp") -> SweepConfig:
  """The default study for a dataset and model kind.

  Toy sets: the moons network (2-12-6-1, ReLU, sigmoid output), full-batch SGD + momentum 0.9 at lr
  0.1 for 300 epochs. Image sets: an MLP 784-128-64-10 or a CNN (16, 32 channels, dense 128-10),
  minibatches of 128, lr 0.01, 5 epochs; ``gaussian(...)``: the MLP, with one logit per class. A
  ``resmlp`` has two residual blocks of width 16 (toy sets) or 128. All with zeros,
  normal(stddev=10) and he_normal x 32 seeds.
  """
  data = datasets.canonical(data)
  family = datasets.family(data)
  if family != "images":
    if kind == "cnn":
      raise ValueError(f"the {data} inputs are vectors: use the mlp or resmlp model, not 'cnn'")
    if family == "toy":
      return SweepConfig(data=data, model=(
          models.ModelConfig(kind="resmlp", widths=(16,) * 5 + (1,)) if kind == "resmlp"
          else models.ModelConfig()))
  if kind == "cnn":
    model = models.ModelConfig(kind="cnn", widths=(128, 10), channels=(16, 32))
  elif kind == "resmlp":
    model = models.ModelConfig(kind="resmlp", widths=(128,) * 5 + (datasets.num_outputs(data),))
  else:
    model = models.ModelConfig(kind=kind, widths=(128, 64, datasets.num_outputs(data)))
  return SweepConfig(data=data, model=model, lrs=(0.01,),
                     train=tr.TrainConfig(epochs=5, batch_size=128))


MODEL_FIELDS = ("widths", "channels", "activation", "batch_norm", "branch_multiplier")
"""The model settings :func:`configure` takes (:class:`jaxinit.nets.models.ModelConfig` fields)."""


def configure(data: str = "moons", model: str = "mlp", *, width: Sequence[int] = (),
              parametrization: str | None = None, train: dict[str, Any] | None = None,
              model_args: str | None = None, **settings: Any) -> SweepConfig:
  """The study of ``data`` and ``model`` (:func:`default_config`) with the settings given in place
  of its defaults; a setting that is None keeps the default (as a flag left out does).

  Args:
    data, model: the dataset and the model: a built-in kind (``mlp``, ``cnn``, ``resmlp``) or a
      user's factory ``package.module:attr`` (:class:`jaxinit.nets.protocol.Spec`), trained as
      the dataset's MLP would be.
    model_args: the user factory's arguments, a JSON object text.
    width: hidden widths of a width sweep: the model is built at the first (every hidden layer).
    parametrization: ``sp``, ``ntk``, ``mup``, ``mean_field``; where the name gives no base width,
      the smallest of ``width`` (else the model's first width) is the base: the narrowest model
      of a sweep is its SP model.
    train: :class:`jaxinit.engine.train.TrainConfig` fields to replace.
    **settings: :data:`MODEL_FIELDS` (given any, the model is rebuilt from them over the
      default's) and :class:`SweepConfig` fields (``schemes``, ``seeds``, ``scales``, ``lrs``,
      ``momenta``, ``data_seed``, ``normalize``).

  >>> c = configure("mnist", widths=(256, 256, 10), parametrization="mup", lrs=(1e-3,))
  >>> c.model.widths, c.model.parametrization, c.lrs, c.train.epochs
  ((256, 256, 10), 'mup(base_width=256)', (0.001,), 5)
  """
  given = {k: v for k, v in settings.items() if v is not None and v is not False}
  shape = {k: given.pop(k) for k in MODEL_FIELDS if k in given}
  if ":" not in model and model not in models.KINDS:
    raise ValueError(f"unknown model {model!r}; accepted: {', '.join(models.KINDS)}, or your own "
                     "as package.module:factory (e.g. mypkg.nets:tiny_transformer)")
  if ":" in model or model_args is not None:
    return _configure_own(data, model, model_args, shape, width, parametrization, train, given)
  if datasets.family(data) == "tokens":
    raise ValueError(f"the {datasets.canonical(data)} inputs are token ids: use a sequence model, e.g. "
                     "--model jaxinit.nets.transformer:Decoder --model-args '{\"vocab\": "
                     f"{datasets.vocabulary(data)}, \"outputs\": {datasets.num_classes(data)}}}', "
                     f"not {model!r}")
  base = default_config(data, model)
  net = base.model
  if shape:
    net = models.ModelConfig(**{"kind": model, **{k: getattr(net, k) for k in MODEL_FIELDS},
                                "batch_norm": False, **shape})
  if width:
    if net.kind == "cnn":
      raise ValueError("--width sets the hidden widths of an mlp or resmlp (width=); a cnn has "
                       "channels")
    net = net.at_width(width[0])
  if parametrization is not None:
    base_width = min(width) if width else net.widths[0]
    net = dataclasses.replace(net, parametrization=parametrizations.with_base(parametrization,
                                                                              base_width))
  changes = {k: v for k, v in (train or {}).items() if v is not None}
  return dataclasses.replace(base, model=net, train=dataclasses.replace(base.train, **changes),
                             **given)


def _configure_own(data: str, target: str, model_args: str | None, shape: dict[str, Any],
                   width: Sequence[int], parametrization: str | None,
                   train: dict[str, Any] | None, given: dict[str, Any]) -> SweepConfig:
  """:func:`configure` for a user's model: the dataset's MLP study with the model replaced."""
  if shape:
    raise ValueError(f"--{sorted(shape)[0].replace('_', '-')} sets a built-in model; a user's model "
                     f"({target}) takes its settings as --model-args (a JSON object)")
  spec = protocol.Spec(target, model_args or "{}")
  if width:
    spec = spec.at_width(width[0])
  if parametrization is not None:
    base_width = min(width) if width else spec.width
    spec = dataclasses.replace(spec, parametrization=parametrizations.with_base(
        parametrization, base_width) if base_width is not None else parametrization)
  base = default_config(data, "mlp")
  changes = {k: v for k, v in (train or {}).items() if v is not None}
  return dataclasses.replace(base, model=spec, train=dataclasses.replace(base.train, **changes),
                             **given)


def model_slug(model: models.ModelConfig | protocol.Spec) -> str:
  """The model's part of a default run-folder name: the kind, or a user factory's name."""
  if isinstance(model, protocol.Spec):
    return folders.slug(model.target.rpartition(":")[2].rpartition(".")[2])
  return model.kind


def setting(config: SweepConfig) -> str:
  """The table caption's sentence on how the members were trained.

  >>> print(setting(SweepConfig()))  # doctest: +NORMALIZE_WHITESPACE
  Trained on moons (standard inputs, full batch) with momentum, lr 0.1, momentum 0.9, constant
  schedule, cross_entropy loss.
  """
  t = config.train
  hyper = [f"lr {_values(config.lrs)}"]
  if optimizers.get(t.optimizer).uses_momentum:
    hyper.append(f"momentum {_values(config.momenta)}")
  batch = "full batch" if t.batch_size is None else f"batch {t.batch_size}"
  held = "" if datasets.validation(config.data) is None else " " + datasets.evaluated_on(
      config.data, config.data_seed)
  return (f"Trained on {config.data} ({config.normalize} inputs, {batch}) with {t.optimizer}, "
          f"{', '.join(hyper)}, {t.schedule} schedule, {t.loss} loss.{held}")


def _values(values: Sequence[float]) -> str:
  return "/".join(f"{v:g}" for v in values)


def group_keys(config: SweepConfig) -> tuple[str, ...]:
  """The record keys a table groups by: the scheme, and each hyperparameter with several values."""
  varied = [k for k, axis in (("lr", config.lrs), ("momentum", config.momenta),
                              ("scale", config.scales)) if len(axis) > 1]
  return ("scheme", *varied)


def _checkpoints(home: folders.RunFolder, keep: int = checkpoints.KEEP) -> checkpoints.Checkpoints:
  """The run folder's checkpoints (:mod:`jaxinit.engine.checkpoints`), its earlier layout's file
  as the legacy one."""
  return checkpoints.Checkpoints(home.checkpoints, keep, legacy=home.legacy_checkpoint)


def final_params(folder: str | Path) -> Any:
  """A finished sweep's trained parameters: every member's after the last epoch, stacked on a
  leading member axis ``(M, ...)`` in ``members.json``'s order, host arrays (read from the checkpoint
  the sweep writes after its last epoch: Orbax's, or an earlier version's ``checkpoint.msgpack``).

  Raises:
    ValueError: ``folder`` holds no finished sweep (no ``run.json`` marked finished, or its
      checkpoint holds another epoch than the last).
  """
  run_folder = folders.RunFolder(folder)
  record = run_folder.read_run()
  if record.get("status") != "finished":
    raise ValueError(f"{folder} holds no finished sweep (status {record.get('status')!r}); accepted: "
                     "a folder a sweep ran to its end in")
  epoch, state = checkpoints.read_host(run_folder.checkpoints, run_folder.legacy_checkpoint)
  last = record["config"]["train"]["epochs"]
  if epoch != last:
    raise ValueError(f"{folder}: the checkpoint holds epoch {epoch}, not the last ({last})")
  return state["params"]


PROGRESS_SECONDS = 10.0
"""How often a sweep whose stderr is not a terminal (a log file, ``2> log`` under a batch scheduler)
writes a progress line, besides the first and the last epoch it trains; a terminal shows a bar."""


def _population_text(metrics_M4: np.ndarray) -> str:
  """The population in a progress report: members alive (finite train loss) and their best and
  median train loss. ``metrics_M4``: :data:`jaxinit.results.records.METRICS` per member, (M, 4)."""
  loss = metrics_M4[:, results.METRICS.index("train_loss")]
  alive = loss[np.isfinite(loss)]
  text = f"members alive {alive.size}/{loss.size}"
  return text + (f"  train loss best {alive.min():.4g} median {np.median(alive):.4g}" if alive.size
                 else "")


def progress_line(epoch: int, total: int, metrics_M4: np.ndarray, elapsed_s: float,
                  eta_s: float | None) -> str:
  """A log file's progress line after ``epoch`` of ``total``: the epoch, the population (members
  alive, their best and median train loss: the terminal's bar shows the same text beside its own
  epoch count and time), the time since the sweep started and the time it expects still to take.

  >>> metrics = np.array([[0.0456, 1, 0, 1], [0.0123, 1, 0, 1], [np.nan] * 4, [0.5, 1, 0, 1]])
  >>> progress_line(40, 200, metrics, 83.4, 310)
  'epoch 40/200  members alive 3/4  train loss best 0.0123 median 0.0456  elapsed 0:01:23  eta 0:05:10'
  """
  elapsed = datetime.timedelta(seconds=round(elapsed_s))
  eta = "-" if eta_s is None else datetime.timedelta(seconds=round(eta_s))
  return f"epoch {epoch}/{total}  {_population_text(metrics_M4)}  elapsed {elapsed}  eta {eta}"


def _progress(total: int, done: int, quiet: bool, t0: float, seconds: float = PROGRESS_SECONDS
              ) -> Callable[[int, np.ndarray], None]:
  """The epoch reporter on stderr: a rich bar on a terminal; otherwise a flushed
  :func:`progress_line` at the first and last epoch and every ``seconds`` between (elapsed since
  ``t0``; the eta from the epochs after the first evaluation, which includes the compile)."""
  if quiet:
    return lambda epoch, metrics: None
  if not sys.stderr.isatty():
    last, first = -math.inf, None

    def line(epoch: int, metrics: np.ndarray) -> None:
      nonlocal last, first
      now = time.perf_counter()
      first = first or (now, epoch)
      if epoch == total or now - last >= seconds:
        eta = (now - first[0]) / (epoch - first[1]) * (total - epoch) if epoch > first[1] else None
        _say(progress_line(epoch, total, metrics, now - t0, eta))
        last = now
    return line
  from rich.console import Console
  from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

  bar = Progress(TextColumn("epoch"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                 TextColumn("{task.description}"), console=Console(stderr=True), transient=False)
  task = bar.add_task("", total=total, completed=done)
  bar.start()

  def update(epoch: int, metrics: np.ndarray) -> None:
    bar.update(task, completed=epoch, description=_population_text(metrics))

  update.stop = bar.stop  # type: ignore[attr-defined]
  return update


@functools.lru_cache(maxsize=8)
def _grid_program(net: tr.Model) -> Any:
  """``jit(vmap(apply))`` of the members on a batch of points (the decision-boundary grid)."""
  model = protocol.of(net)
  return jax.jit(jax.vmap(lambda v, x: model.apply(v, x)[0], in_axes=(0, None)))


def _figures(folder: Path, config: SweepConfig, net: tr.Model, dataset: datasets.Dataset,
             members: Sequence[pop.Member], state: tr.TrainState, rows: list[dict]) -> list[Path]:
  """Writes the loss curves and, for 2-D inputs, one decision-boundary figure per scheme.

  ``state`` is the padded population (its size bucket), so the forward pass compiles once per
  bucket; the padding members are dropped before anything is drawn."""
  from jaxinit.results import plots

  paths = [folder / f"loss_curves.{ext}" for ext in ("png", "pdf")]
  for path in paths:
    plots.loss_curves(rows, path, title=config.data)
  if dataset.feature_shape != (2,):
    return paths
  xy = np.concatenate([dataset.x_train, dataset.x_test])
  lo, hi = xy.min(0) - 0.5, xy.max(0) + 0.5
  gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150))
  grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
  variables = tr.variables(state)
  logits = _grid_logits(net, variables, grid, len(members))
  prob_M = (0.5 + 0.5 * np.tanh(logits[..., 0].astype(np.float64) / 2)  # the sigmoid, no overflow
            if logits.shape[-1] == 1
            else _softmax(logits)[..., 1]).reshape(len(members), *gx.shape)
  diverged = np.asarray(state.diverged_epoch)[:len(members)]
  for scheme in dict.fromkeys(m.scheme for m in members):
    alive = [k for k, m in enumerate(members) if m.scheme == scheme and diverged[k] == 0]
    prob = prob_M[alive].mean(0) if alive else np.full(gx.shape, np.nan)
    paths.append(folder / f"decision_boundary_{folders.slug(scheme)}.png")
    plots.decision_boundary(gx, gy, prob, dataset.x_test, dataset.y_test,
                            title=f"{scheme}: mean p(class 1) over {len(alive)} members",
                            path=paths[-1])
  return paths


FIGURE_BYTES = 2 ** 28
"""The memory one call of the decision-boundary forward pass may take (its activations)."""


def _grid_logits(net: tr.Model, variables: Any, grid: np.ndarray, m: int) -> np.ndarray:
  """The logits ``(m, P, outputs)`` of the first ``m`` members (host ``variables``, stacked) on
  the ``P`` grid points, a fixed number of members per call (one compiled program) so that no call
  holds more than :data:`FIGURE_BYTES` of activations, however large the population."""
  per_member = grid.shape[0] * 4 * placement.activations_per_example(net, grid.shape[1:])
  count = jax.tree.leaves(variables)[0].shape[0]  # the padded population: its size bucket
  per = int(max(1, min(count, FIGURE_BYTES // per_member)))
  program, out = _grid_program(net), []
  for start in range(0, m, per):
    index = np.arange(start, start + per)
    index[index >= m] = 0  # the last call filled up with member 0, dropped below
    part = jax.tree.map(lambda x, index=index: np.asarray(x)[index], variables)
    out.append(np.asarray(program(part, grid))[:min(per, m - start)])
  return np.concatenate(out)


def _softmax(logits: np.ndarray) -> np.ndarray:
  z = logits.astype(np.float64) - logits.max(-1, keepdims=True)
  e = np.exp(z)
  return e / e.sum(-1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class SweepResult:
  """What :func:`run` returns.

  Attributes:
    folder: the run folder.
    record: the run record, as in ``run.json``.
    table: the summary rows (:func:`jaxinit.results.summarize` of the last epoch).
    markdown: ``table.md``'s text, byte for byte (the table and its caption).
    resumed_from: the epoch a resumed run continued from, else None.
  """

  folder: Path
  record: dict[str, Any]
  table: list[dict[str, Any]]
  markdown: str
  resumed_from: int | None = None


def _widths_text(widths: Sequence[int]) -> str:
  """``(64, 64, 64, 64, 10)`` as ``64 x 4 + 10`` when long and uniform; short ones as a tuple.

  >>> _widths_text((64,) * 9 + (10,)), _widths_text((12, 6, 1))
  ('(64 x 9, 10)', '(12, 6, 1)')
  """
  if len(widths) > 4 and len(set(widths[:-1])) == 1:
    return f"({widths[0]} x {len(widths) - 1}, {widths[-1]})"
  return str(tuple(widths))


def read_finished(config: SweepConfig, folder: str | Path) -> SweepResult | None:
  """The result of a sweep that finished in ``folder`` with this ``config``, read from its
  ``run.json``, records and ``table.md`` (nothing is trained or written); None when the folder
  holds no finished run of it (missing, cut short, or another config). The table is summarized
  from the records again, as :func:`run` does, so its rows are a fresh run's, key order included
  (``run.json`` stores them with sorted keys).
  """
  run_folder = folders.RunFolder(folder)
  record = run_folder.read_run()
  if record.get("status") != "finished":
    return None
  if stored_config(record["config"]) != json.loads(json.dumps(config.to_json())):
    return None
  table = results.summarize(results.read_records(run_folder.records), by=group_keys(config))
  return SweepResult(run_folder.path, record, table, run_folder.table("md").read_text())


def _say(text: str) -> None:
  print(text, file=sys.stderr, flush=True)


def run(config: SweepConfig, folder: str | Path, *, data_dir: str | None = None,
        resume: bool = False, overwrite: bool = False, checkpoint_seconds: float = 30.0,
        keep_checkpoints: int = checkpoints.KEEP,
        quiet: bool = False, figures: bool = True, max_members_per_chunk: int | None = None,
        log: str | None = None) -> SweepResult:
  """Runs (or resumes) a sweep into ``folder``.

  Args:
    config: the sweep.
    folder: the output folder; it must be empty or absent unless ``resume`` or ``overwrite``
      (:func:`jaxinit.results.folders.prepare`).
    data_dir: the image sets' IDX folder (see :func:`jaxinit.data.mnist`).
    resume: continue the run in ``folder`` from its last checkpoint (its config must equal
      ``config``).
    overwrite: replace the run in ``folder``.
    checkpoint_seconds: save the train state when this much time has passed since the last save (0:
      after every epoch), and always after the last epoch and on SIGINT/SIGTERM.
    keep_checkpoints: how many of the newest saved epochs to keep (>= 1).
    quiet: no progress bar, or no progress lines when stderr is not a terminal (where the run
      resumes from and why it stopped are still said on stderr).
    figures: write the figures at the end.
    max_members_per_chunk: train at most this many members at a time; None sizes the chunks from
      the free memory (:func:`jaxinit.engine.placement.plan_population`). Results do not depend on it (to
      float rounding).
    log: also mirror each evaluated epoch's per-group aggregates to this metric writer
      (:data:`jaxinit.results.metric_writer.LOGS`: ``"tensorboard"`` writes ``folder/tensorboard/``);
      ``records.jsonl`` stays the source of truth.

  Returns:
    The :class:`SweepResult`; ``record["status"]`` is ``"finished"``.

  Raises:
    ValueError: a bad config, data that is missing or not the dataset named, a population that
      does not fit in memory, a folder the rules refuse, a ``log`` writer whose package is
      missing (nothing is written in these cases).
    jaxinit.engine.signals.Interrupted: SIGINT or SIGTERM; the epoch in flight was finished and
      checkpointed, and ``run.json`` is marked ``"interrupted"``.
  """
  t0 = time.perf_counter()
  if checkpoint_seconds < 0 or checkpoint_seconds != checkpoint_seconds:
    raise ValueError(f"checkpoint_seconds={checkpoint_seconds}; accepted: a number >= 0 "
                     "(0 = after every epoch)")
  checkpoints.check_keep(keep_checkpoints)
  metric_writer.check(log)
  if isinstance(config.model, models.ModelConfig):
    config.check_readout()
  home = folders.RunFolder(folder)
  _say(_announcement(config, home.path))
  placement.check_data(config.data, data_dir)  # sizes first: nothing large is built before they fit
  dataset = datasets.load(config.data, seed=config.data_seed, data_dir=data_dir,
                          normalize=config.normalize)
  data = tr.device_data(dataset)
  net = config.net(dataset.x_train)
  if not isinstance(net, models.ModelConfig):
    config.check_readout(tr.num_outputs(net, dataset.x_train))
    pop.check_layers(net, config.schemes, dataset.feature_shape)
  tr.check_data(data, config.train, net)
  plan = placement.plan_population(net, config.train, config.size,
                                   dataset.feature_shape, len(dataset.y_train),
                                   max_members_per_chunk=max_members_per_chunk)
  members = config.members()
  out = _writable(home)
  fresh = not home.path.exists()
  if out == home:  # process 0 checks (and for --overwrite clears) the run folder
    resume = folders.prepare(home.path, home.CONFIG, config=config.to_json(), resume=resume,
                             overwrite=overwrite, canonical=stored_config,
                             empty_when_missing=(home.RECORDS, home.CHECKPOINTS,
                                                 home.LEGACY_CHECKPOINT))
  record = _new_record(config, dataset, members, plan, data_dir)
  store = _checkpoints(home, keep_checkpoints)  # every process saves into home: it is collective
  try:
    start, state = _start(config, net, store, out, members, dataset, plan, resume, record)
    record["wall_s"]["setup"] = time.perf_counter() - t0
    out.write_run(record)
    state = _train(config, net, out, store, members, data, state, start, plan, checkpoint_seconds,
                   quiet, record, t0, log if out == home else None)
  except BaseException as e:
    if record["epochs_done"] == 0 and not resume and fresh and out == home:
      shutil.rmtree(out.path, ignore_errors=True)  # nothing finished: leave nothing behind
    elif isinstance(e, signals.Interrupted | KeyboardInterrupt):
      _mark_interrupted(out, record, t0)
    if isinstance(e, KeyboardInterrupt):
      raise signals.Interrupted(signal.SIGINT) from e
    raise
  finally:
    store.close()
  record["wall_s"]["train"] = time.perf_counter() - t0 - record["wall_s"]["setup"]
  rows = results.read_records(out.records)
  table, markdown = _write_tables(config, out, rows)
  if figures:  # every process joins the gather (a collective across processes); process 0 draws
    host = jax.tree.map(sharding.to_host, state)
    if out == home:
      record["figures"] = _drawn(out, config, net, dataset, members, host, rows, record)
  diverged = sharding.to_host(state.diverged_epoch)[:len(members)]
  record.update(status="finished", table=table, diverged=int(np.sum(diverged > 0)))
  record["wall_s"]["total"] = time.perf_counter() - t0
  out.write_run(record)
  if out != home:  # a scratch folder of a process other than 0
    shutil.rmtree(out.path, ignore_errors=True)
  return SweepResult(home.path, record, table, markdown, start if resume else None)


def _drawn(out: folders.RunFolder, config: SweepConfig, net: tr.Model, dataset: datasets.Dataset,
           members: Sequence[pop.Member], host: tr.TrainState, rows: list[dict[str, Any]],
           record: dict[str, Any]) -> list[str]:
  """The figures' file names; a figure that fails (memory, disk) leaves the records, the tables
  and a finished run: the failure goes into ``record["figures_error"]`` and is said on stderr,
  and ``--resume`` draws them again."""
  try:
    return [p.name for p in _figures(out.path, config, net, dataset, members, host, rows)]
  except (MemoryError, OSError, RuntimeError) as e:
    record["figures_error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"
    _say(f"figures not drawn ({record['figures_error']}); the records and tables are complete; "
         "rerun with --resume to draw them")
    return []


def _announcement(config: SweepConfig, folder: Path) -> str:
  """The line a sweep starts with: its size, data, model and epochs, and where it writes."""
  m, grid = config.size, len(config.schemes) * len(config.seeds)
  return (f"sweep: {m} members ({len(config.schemes)} schemes x {len(config.seeds)} seeds"
          f"{'' if m == grid else ' x hyperparameters'}), {config.data}, {model_text(config.model)}, "
          f"{config.train.epochs} epochs -> {folder}")


def model_text(model: models.ModelConfig | protocol.Spec) -> str:
  """The model in a log line: ``mlp (12, 6, 1)`` (the built-in kind and widths), or a user's
  factory, its arguments and a parametrization other than SP."""
  if isinstance(model, protocol.Spec):
    return f"{model.target} {model.args}" + (
        "" if model.parametrization == "sp" else f" {model.parametrization}")
  return f"{model.kind} {_widths_text(model.widths)}"


def _writable(home: folders.RunFolder) -> folders.RunFolder:
  """Where this process writes: the run folder on process 0. With several processes
  (jax.distributed) all run the same program and read the run folder (to resume), but only process
  0 writes it; the others write to a scratch folder, deleted at the end. The checkpoints are the
  exception: every process writes its shards into the run folder's (a collective save)."""
  if jax.process_index() == 0:
    return home
  return folders.RunFolder(tempfile.mkdtemp(prefix=f"jaxinit-process{jax.process_index()}-"))


def _new_record(config: SweepConfig, dataset: datasets.Dataset, members: Sequence[pop.Member],
                plan: placement.Plan, data_dir: str | None) -> dict[str, Any]:
  """The run record (``run.json``) of a run about to start."""
  return {"config": config.to_json(), "environment": results.environment(), "data_dir": data_dir,
          "data_source": getattr(dataset, "source", None), "members": len(members),
          "padded_members": plan.count, "devices": plan.devices,
          "members_per_chunk": plan.chunk, "status": "running", "epochs_done": 0,
          "checkpoint_epoch": 0, "wall_s": {}}


def _start(config: SweepConfig, net: tr.Model, store: checkpoints.Checkpoints,
           out: folders.RunFolder, members: Sequence[pop.Member], dataset: datasets.Dataset,
           plan: placement.Plan, resume: bool, record: dict[str, Any]) -> tuple[int, tr.TrainState]:
  """Writes the config and members, draws the initial state and, on ``resume``, restores the last
  checkpoint of ``store`` into the shardings the plan trains in (cutting the records back to it).
  Returns ``(start epoch, state)``."""
  out.path.mkdir(parents=True, exist_ok=True)
  results.write_json(out.config, config.to_json())
  results.write_json(out.members, pop.member_table(members))
  start = 0
  state = tr.init_state(net, config.train, members, dataset.x_train, plan.count)
  if resume:
    restored = store.restore(state, len(members), checkpoints.target_sharding(plan))
    if restored is not None:
      start, state = restored
    if out.records.exists():
      results.truncate_records(out.records, start)
    record["resumed_from_epoch"] = start
    record["wall_s"]["before_resume"] = out.read_run().get("wall_s", {}).get("total")
    _say(f"resuming {out.path} from epoch {start} of {config.train.epochs} "
         + ("(its last checkpoint; later records are discarded)" if restored else
            "(no checkpoint was saved: starting over)"))
  record.update(epochs_done=start, checkpoint_epoch=start)
  return start, state


def _mark_interrupted(out: folders.RunFolder, record: dict[str, Any], t0: float) -> None:
  """Marks the run record interrupted and says how to continue."""
  record["status"] = "interrupted"
  record["wall_s"]["total"] = time.perf_counter() - t0
  out.write_run(record)
  _say(f"stopped after epoch {record['epochs_done']}; the checkpoint holds epoch "
       f"{record['checkpoint_epoch']} and every finished epoch is in {out.records}; "
       "continue with --resume")


def _write_tables(config: SweepConfig, out: folders.RunFolder, rows: list[dict[str, Any]]
                  ) -> tuple[list[dict[str, Any]], str]:
  """Summarizes the records' last epoch into ``table.{md,tex,csv}``; returns the table's rows and
  the Markdown text."""
  by = group_keys(config)
  table = results.summarize(rows, by=by)
  paths = results.write_tables(table, out.path, by=by, spread=SPREAD, setting=setting(config))
  return table, Path(paths["md"]).read_text()


def _train(config: SweepConfig, net: tr.Model, folder: folders.RunFolder,
           store: checkpoints.Checkpoints, members: Sequence[pop.Member],
           data: tr.DeviceData, initial: tr.TrainState, start: int, plan: placement.Plan,
           checkpoint_seconds: float, quiet: bool, record: dict[str, Any], t0: float,
           log: str | None = None) -> tr.TrainState:
  """The epoch loop: records every epoch (mirrored to the ``log`` writer), checkpoints (and
  ``run.json``) by time, at the end and on a stop request. Returns the final (padded) state."""
  progress = _progress(config.train.epochs, start, quiet, t0)
  last_save, t_train = time.perf_counter(), time.perf_counter()
  m, state = len(members), initial
  try:
    with (signals.stop_requests("saving a checkpoint after the epoch in flight") as stop,
          results.RecordWriter(folder.records) as writer,
          metric_writer.open_writer(log, folder.path, group_keys(config), start) as mirror):
      for epoch, state, metrics in tr.run(net, config.train, members, data, initial, start, plan):
        diverged = sharding.to_host(state.diverged_epoch)[:m]
        rows = results.epoch_records(members, epoch, metrics, diverged)
        writer.write(rows)
        if mirror is not None:
          mirror.write(rows)
        record["epochs_done"] = epoch
        if "first_block_with_compile" not in record["wall_s"]:  # epochs up to the first evaluation
          record["wall_s"]["first_block_with_compile"] = time.perf_counter() - t_train
        if (stop or epoch == config.train.epochs
            or time.perf_counter() - last_save >= checkpoint_seconds):
          store.save(epoch, state, m)  # complete on disk before run.json names it
          record["checkpoint_epoch"] = epoch
          record["wall_s"]["total"] = time.perf_counter() - t0
          folder.write_run(record)
          last_save = time.perf_counter()
        progress(epoch, metrics)
        stop.check(f"stopped after epoch {epoch}")
  finally:
    getattr(progress, "stop", lambda: None)()
  return state
