"""A sweep on disk: a population trained epoch by epoch, with records, checkpoints, tables, figures.

``run(config, folder)`` writes into ``folder``:

* ``config.json`` (the :class:`SweepConfig`), ``members.json`` (the member table) and ``run.json``
  (environment, data folder, status, epochs done, wall times), rewritten as the run goes;
* ``records.jsonl``: one record per member per epoch, fsynced after every epoch;
* ``checkpoint.msgpack``: the whole population's train state and its epoch
  (``flax.serialization``, written atomically) every ``checkpoint_seconds`` and after the last epoch;
* when finished: ``table.{md,tex,csv}`` (final train/test loss and accuracy per scheme, mean +- 95%
  CI over seeds), ``loss_curves.{png,pdf}`` and, for 2-D inputs, ``decision_boundary_<scheme>.png``.

An interrupted run (Ctrl-C, kill) keeps every finished epoch in ``records.jsonl``; ``resume=True``
restores the last checkpoint, cuts the records back to its epoch and continues. The result is
bit-identical to an uninterrupted run, since epoch ``e``'s batches depend only on seeds and ``e``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import data as datasets
from jaxinit import models, results, sharding
from jaxinit import population as pop
from jaxinit import train as tr

__all__ = ["SweepConfig", "default_config", "group_keys", "run", "load_config", "TOY", "IMAGES"]

TOY = ("moons", "circles")
IMAGES = ("mnist", "fashion_mnist")
CHECKPOINT = "checkpoint.msgpack"
RECORDS = "records.jsonl"


@dataclasses.dataclass(frozen=True)
class SweepConfig:
  """Everything that decides a sweep's numbers (where its data lives does not).

  Attributes:
    data: dataset name (:func:`jaxinit.data.load`).
    data_seed: the toy sets' seed (ignored by the image sets).
    model: the architecture.
    train: how every member is trained.
    schemes, seeds, lrs, momenta, scales: the population grid (:func:`jaxinit.population.grid`).
  """

  data: str = "moons"
  data_seed: int = 0
  model: models.ModelConfig = dataclasses.field(default_factory=models.ModelConfig)
  train: tr.TrainConfig = dataclasses.field(
      default_factory=lambda: tr.TrainConfig(epochs=300, batch_size=None))
  schemes: tuple[str, ...] = ("zeros", "normal(stddev=10.0)", "he_normal")
  seeds: tuple[int, ...] = tuple(range(32))
  lrs: tuple[float, ...] = (0.1,)
  momenta: tuple[float, ...] = (0.9,)
  scales: tuple[float, ...] = (1.0,)

  def members(self) -> tuple[pop.Member, ...]:
    return pop.grid(self.schemes, self.seeds, self.lrs, self.momenta, self.scales)

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def load_config(obj: dict[str, Any]) -> SweepConfig:
  """The inverse of :meth:`SweepConfig.to_json`."""
  tup = lambda v: tuple(v) if isinstance(v, list) else v
  model = models.ModelConfig(**{k: tup(v) for k, v in obj["model"].items()})
  train = tr.TrainConfig(**obj["train"])
  rest = {k: tup(v) for k, v in obj.items() if k not in ("model", "train")}
  return SweepConfig(model=model, train=train, **rest)


def default_config(data: str = "moons", kind: str = "mlp") -> SweepConfig:
  """The default study for a dataset and model kind.

  Toy sets: the moons network (2-12-6-1, ReLU, sigmoid output), full-batch SGD + momentum 0.9 at lr
  0.1 for 300 epochs. Image sets: an MLP 784-128-64-10 or a CNN (16, 32 channels, dense 128-10),
  minibatches of 128, lr 0.01, 5 epochs. Both with zeros, normal(stddev=10) and he_normal x 32 seeds.
  """
  data = datasets.ALIASES.get(data, data)
  if data in TOY:
    if kind != "mlp":
      raise ValueError(f"the {data} inputs are 2-D points: use the mlp model, not {kind!r}")
    return SweepConfig(data=data)
  if data not in IMAGES:
    raise ValueError(f"unknown dataset {data!r}; known: {', '.join(TOY + IMAGES)}")
  model = (models.ModelConfig(kind="cnn", widths=(128, 10), channels=(16, 32)) if kind == "cnn"
           else models.ModelConfig(kind=kind, widths=(128, 64, 10)))
  return SweepConfig(data=data, model=model, lrs=(0.01,),
                     train=tr.TrainConfig(epochs=5, batch_size=128))


def group_keys(config: SweepConfig) -> tuple[str, ...]:
  """The record keys a table groups by: the scheme, and each hyperparameter with several values."""
  varied = [k for k, axis in (("lr", config.lrs), ("momentum", config.momenta),
                              ("scale", config.scales)) if len(axis) > 1]
  return ("scheme", *varied)


def slug(text: str) -> str:
  """A file-name-safe form of a scheme name."""
  return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")


def _prepare(folder: Path, config: SweepConfig, resume: bool, overwrite: bool) -> None:
  """Checks the output folder against the flags; clears it for ``overwrite``."""
  if resume and overwrite:
    raise ValueError("--resume and --overwrite exclude each other; choose one")
  if folder.exists() and not folder.is_dir():
    raise ValueError(f"output {folder} exists and is not a folder")
  used = folder.is_dir() and any(folder.iterdir())
  if resume:
    stored = folder / "config.json"
    if not stored.exists():
      raise ValueError(f"cannot resume: {stored} does not exist; start the sweep without --resume")
    old = json.loads(stored.read_text())
    if old != json.loads(json.dumps(config.to_json())):
      diff = sorted(k for k in set(old) | set(config.to_json())
                    if old.get(k) != json.loads(json.dumps(config.to_json())).get(k))
      raise ValueError(f"cannot resume {folder}: it was run with a different config (differs in "
                       f"{', '.join(diff)}); use the same flags, or --overwrite, or another --name")
    return
  if used and not overwrite:
    raise ValueError(f"output folder {folder} already holds a run; pass --resume to continue it, "
                     "--overwrite to replace it, or choose another --name")
  if used:
    if not (folder / "config.json").exists():
      raise ValueError(f"refusing to overwrite {folder}: it is not a jaxinit run folder (no "
                       "config.json); choose another --name or --out")
    shutil.rmtree(folder)


def _save_checkpoint(folder: Path, state: tr.TrainState, epoch: int) -> None:
  host = jax.tree.map(sharding.to_host, state)
  payload = flax.serialization.to_bytes({"epoch": epoch, "state": host})
  tmp = folder / f".{CHECKPOINT}.tmp"
  tmp.write_bytes(payload)
  os.replace(tmp, folder / CHECKPOINT)


def _load_checkpoint(folder: Path, template: tr.TrainState) -> tuple[int, tr.TrainState] | None:
  path = folder / CHECKPOINT
  if not path.exists():
    return None
  target = {"epoch": 0, "state": jax.device_get(template)}
  try:
    restored = flax.serialization.from_bytes(target, path.read_bytes())
  except Exception as e:
    raise ValueError(f"checkpoint {path} cannot be read ({e}); rerun with --overwrite") from e
  return int(restored["epoch"]), jax.tree.map(jnp.asarray, restored["state"])


def _records(members: Sequence[pop.Member], epoch: int, metrics_M4: np.ndarray,
             diverged_epoch_M: np.ndarray) -> list[dict[str, Any]]:
  rows = []
  for k, m in enumerate(members):
    de = int(diverged_epoch_M[k])
    rows.append({"member": k, **dataclasses.asdict(m), "epoch": epoch,
                 **{name: float(v) for name, v in zip(tr.METRICS, metrics_M4[k], strict=True)},
                 "diverged": de > 0, "diverged_epoch": de or None})
  return rows


def _progress(total: int, done: int, quiet: bool) -> Callable[[int, np.ndarray], None]:
  """An epoch progress bar (rich, on stderr) showing the best and worst member's train loss."""
  if quiet:
    return lambda epoch, metrics: None
  from rich.console import Console
  from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

  bar = Progress(TextColumn("epoch"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                 TextColumn("{task.description}"), console=Console(stderr=True), transient=False)
  task = bar.add_task("", total=total, completed=done)
  bar.start()

  def update(epoch: int, metrics: np.ndarray) -> None:
    loss = metrics[:, 0]
    alive = loss[np.isfinite(loss)]
    text = (f"train loss best {alive.min():.4g} worst {alive.max():.4g}" if alive.size
            else "all members diverged")
    bar.update(task, completed=epoch, description=text)

  update.stop = bar.stop  # type: ignore[attr-defined]
  return update


def _figures(folder: Path, config: SweepConfig, dataset: datasets.Dataset,
             members: Sequence[pop.Member], state: tr.TrainState, rows: list[dict]) -> list[Path]:
  """Writes the loss curves and, for 2-D inputs, one decision-boundary figure per scheme."""
  from jaxinit import plots

  paths = [folder / f"loss_curves.{ext}" for ext in ("png", "pdf")]
  for path in paths:
    plots.loss_curves(rows, path, title=f"{config.data}: mean +- std over seeds")
  if dataset.feature_shape != (2,):
    return paths
  model = models.build(config.model)
  xy = np.concatenate([dataset.x_train, dataset.x_test])
  lo, hi = xy.min(0) - 0.5, xy.max(0) + 0.5
  gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150))
  grid = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], 1), jnp.float32)
  variables = {"params": state.params, **({"batch_stats": state.batch_stats}
                                          if state.batch_stats else {})}
  logits = jax.jit(jax.vmap(lambda v: model.apply(v, grid)))(variables)
  prob_M = np.asarray(jax.nn.sigmoid(logits[..., 0]) if config.model.num_outputs == 1
                      else jax.nn.softmax(logits)[..., 1]).reshape(len(members), *gx.shape)
  for scheme in dict.fromkeys(m.scheme for m in members):
    idx = [k for k, m in enumerate(members) if m.scheme == scheme]
    alive = [k for k in idx if int(state.diverged_epoch[k]) == 0]
    prob = prob_M[alive].mean(0) if alive else np.full(gx.shape, np.nan)
    paths.append(folder / f"decision_boundary_{slug(scheme)}.png")
    plots.decision_boundary(gx, gy, prob, dataset.x_test, dataset.y_test,
                            title=f"{scheme}: mean p(class 1) over {len(alive)} members",
                            path=paths[-1])
  return paths


def run(config: SweepConfig, folder: str | Path, *, data_dir: str | None = None,
        resume: bool = False, overwrite: bool = False, checkpoint_seconds: float = 30.0,
        quiet: bool = False, figures: bool = True, max_members_per_chunk: int | None = None
        ) -> dict[str, Any]:
  """Runs (or resumes) a sweep into ``folder`` and returns its run record.

  Args:
    config: the sweep.
    folder: the output folder; it must be empty or absent unless ``resume`` or ``overwrite``.
    data_dir: the image sets' IDX folder (see :func:`jaxinit.data.mnist`).
    resume: continue the run in ``folder`` from its last checkpoint (its config must equal
      ``config``).
    overwrite: replace the run in ``folder``.
    checkpoint_seconds: save the train state when this much time has passed since the last save (0:
      after every epoch), and always after the last epoch.
    quiet: no progress bar.
    figures: write the figures at the end.
    max_members_per_chunk: train at most this many members at a time; None sizes the chunks from
      the devices' free memory (no chunks where it is not reported, e.g. on the CPU). Results do
      not depend on it (to float rounding).

  Returns:
    The run record (also in ``run.json``): ``status`` ``"finished"``, the table rows, wall times.

  Raises:
    ValueError: a bad config, a folder that holds a run without ``resume``/``overwrite``, a resume
      whose config differs.
    KeyboardInterrupt: re-raised after ``run.json`` is marked ``"interrupted"``.
  """
  t0 = time.perf_counter()
  folder = read_folder = Path(folder)
  if jax.process_index() != 0:
    # Several processes (jax.distributed): all run the same program and read the run folder (to
    # resume), but only process 0 writes it; the others write to a scratch folder.
    folder = Path(tempfile.mkdtemp(prefix=f"jaxinit-process{jax.process_index()}-"))
    figures = False
  members = config.members()
  dataset = datasets.load(config.data, seed=config.data_seed, data_dir=data_dir)
  data = tr.device_data(dataset)
  tr.check_data(data, config.train, config.model)
  if folder == read_folder:  # process 0 checks (and for --overwrite clears) the run folder
    _prepare(folder, config, resume, overwrite)
  folder.mkdir(parents=True, exist_ok=True)
  record: dict[str, Any] = {"config": config.to_json(), "environment": results.environment(),
                            "data_dir": data_dir, "members": len(members), "status": "running",
                            "epochs_done": 0, "wall_s": {}}
  results.write_json(folder / "config.json", config.to_json())
  results.write_json(folder / "members.json", pop.member_table(members))
  initial = tr.init_state(config.model, config.train, members, dataset.x_train)
  start = 0
  if resume:
    restored = _load_checkpoint(read_folder, initial)
    if restored is not None:
      start, initial = restored
    if (folder / RECORDS).exists():
      results.truncate_records(folder / RECORDS, start)
    previous = json.loads((folder / "run.json").read_text()) if (folder / "run.json").exists() else {}
    record["resumed_from_epoch"] = start
    record["wall_s"]["before_resume"] = previous.get("wall_s", {}).get("total")
  record["wall_s"]["setup"] = time.perf_counter() - t0
  results.write_json(folder / "run.json", record)
  progress = _progress(config.train.epochs, start, quiet)
  mesh = sharding.population_mesh()
  devices = 1 if mesh is None else mesh.size
  if max_members_per_chunk is None:
    max_members_per_chunk = sharding.members_that_fit(
        tr.member_bytes(config.model, config.train, dataset.feature_shape, len(dataset.y_train)),
        sharding.free_bytes(), devices)
  record["devices"], record["max_members_per_chunk"] = devices, max_members_per_chunk
  last_save, t_train, epoch, state = time.perf_counter(), time.perf_counter(), start, initial
  try:
    with results.RecordWriter(folder / RECORDS) as writer:
      for epoch, state, metrics in tr.run(config.model, config.train, members, data, initial,
                                          start, mesh, max_members_per_chunk):
        metrics = sharding.to_host(metrics)
        diverged = sharding.to_host(state.diverged_epoch)[:len(members)]
        writer.write(_records(members, epoch, metrics, diverged))
        final = epoch == config.train.epochs
        if final or time.perf_counter() - last_save >= checkpoint_seconds:
          _save_checkpoint(folder, sharding.unpad(state, len(members)), epoch)
          last_save = time.perf_counter()
        if epoch == start + 1:
          record["wall_s"]["first_epoch_with_compile"] = time.perf_counter() - t_train
        progress(epoch, metrics)
  except KeyboardInterrupt:
    record.update(status="interrupted", epochs_done=epoch)
    record["wall_s"]["total"] = time.perf_counter() - t0
    results.write_json(folder / "run.json", record)
    print(f"interrupted after epoch {epoch}; every finished epoch is in {folder / RECORDS}; "
          "continue with --resume", file=sys.stderr)
    raise
  finally:
    getattr(progress, "stop", lambda: None)()
  record["wall_s"]["train"] = time.perf_counter() - t_train
  state = jax.tree.map(sharding.to_host, sharding.unpad(state, len(members)))
  rows = results.read_records(folder / RECORDS)
  table = results.summarize(rows, by=group_keys(config))
  results.write_tables(table, folder, by=group_keys(config))
  if figures:
    record["figures"] = [str(p.name) for p in _figures(folder, config, dataset, members, state, rows)]
  record.update(status="finished", epochs_done=epoch, table=table,
                diverged=sum(int(d > 0) for d in np.asarray(state.diverged_epoch)))
  record["wall_s"]["total"] = time.perf_counter() - t0
  results.write_json(folder / "run.json", record)
  if folder != read_folder:  # a scratch folder of a process other than 0
    shutil.rmtree(folder, ignore_errors=True)
  return record

