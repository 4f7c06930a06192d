"""The records of a sweep: one JSON line per member per evaluated epoch, written crash-safe.

A sweep appends one record per member per evaluation (every epoch, or every ``eval_every``:
:data:`RECORD_FIELDS`, built by :func:`epoch_records`) to a JSON-lines file with
:class:`RecordWriter`; each evaluation is flushed and fsynced, so a killed run keeps every finished
one and ``--resume`` cuts the file back to its last checkpoint with :func:`truncate_records`. A
line counts once its newline is written: a final line without one (a kill mid-write) is ignored by
:func:`read_records` and dropped when a writer reopens the file. NaN (a diverged member's metrics;
any non-finite float) is stored as JSON ``null``. Every other file is written atomically
(:func:`jaxinit.results.folders.atomic_write`: a temporary file in the same folder, fsynced, then
``os.replace``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxinit.results.folders import RunFolder, atomic_write, jsonable

__all__ = ["METRICS", "MEMBER_FIELDS", "RECORD_FIELDS", "RUN_COLUMNS", "epoch_records", "RecordWriter",
           "read_records", "truncate_records", "load"]

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
"""What training measures of each member at each evaluation, in this order: the mean loss and the
accuracy (a fraction) on the training and the test set. :mod:`jaxinit.engine.train` computes them in
this order; the results layer reads them by these names."""

MEMBER_FIELDS = ("scheme", "seed", "lr", "momentum", "scale")
"""What identifies a member of a population, in this order: the fields of
:class:`jaxinit.engine.population.Member` (which checks at import that it has exactly these)."""

RECORD_FIELDS = ("member", *MEMBER_FIELDS, "epoch", *METRICS, "diverged", "diverged_epoch")
"""The keys of a record, in file order: the member's index and fields (:data:`MEMBER_FIELDS`), the epoch,
the :data:`METRICS` (floats; NaN, ``null`` on disk, once the member has diverged), ``diverged`` and
``diverged_epoch`` (the epoch it diverged at, or None)."""


def epoch_records(members: Sequence[Any], epoch: int, metrics_M4: np.ndarray,
                  diverged_epoch_M: np.ndarray) -> list[dict[str, Any]]:
  """The records of one epoch, one per member, with exactly the keys :data:`RECORD_FIELDS`.

  Args:
    members: the population, shape ``(M,)``: objects with the attributes :data:`MEMBER_FIELDS`
      (:class:`jaxinit.engine.population.Member`).
    epoch: the epoch just finished (1-based).
    metrics_M4: the :data:`METRICS` of each member after it, shape ``(M, 4)``.
    diverged_epoch_M: the epoch each member diverged at, 0 for none, shape ``(M,)``.

  Returns:
    ``M`` dicts: ``member`` (the index), the member's fields, ``epoch``, the metrics as floats,
    ``diverged`` (bool) and ``diverged_epoch`` (int, or None).

  >>> from types import SimpleNamespace
  >>> member = SimpleNamespace(scheme="zeros", seed=0, lr=0.1, momentum=0.9, scale=1.0)
  >>> rows = epoch_records([member], 3, np.array([[0.7, 0.5, 0.7, 0.5]]), np.array([0]))
  >>> tuple(rows[0]) == RECORD_FIELDS, rows[0]["scheme"], rows[0]["diverged_epoch"]
  (True, 'zeros', None)
  """
  rows = []
  for k, (m, values, de) in enumerate(zip(members, np.asarray(metrics_M4, np.float64).tolist(),
                                          np.asarray(diverged_epoch_M).tolist(), strict=True)):
    rows.append({"member": k, **{f: getattr(m, f) for f in MEMBER_FIELDS}, "epoch": epoch,
                 **dict(zip(METRICS, values, strict=True)),
                 "diverged": de > 0, "diverged_epoch": de or None})
  return rows



def _record_line(row: dict[str, Any]) -> str:
  if set(row) != set(RECORD_FIELDS):
    extra, missing = sorted(set(row) - set(RECORD_FIELDS)), sorted(set(RECORD_FIELDS) - set(row))
    raise ValueError(f"record has unknown keys {extra} and lacks keys {missing}; accepted: exactly "
                     f"the keys of RECORD_FIELDS {RECORD_FIELDS}")
  return json.dumps({k: jsonable(row[k]) for k in RECORD_FIELDS}, allow_nan=False) + "\n"


class RecordWriter:
  """Appends records to a JSON-lines file, one fsynced batch (an evaluation's) at a time.

  Opening an existing file appends to it, after dropping a final line without a newline (left by a
  kill mid-write). Usable as a context manager: ``with RecordWriter(path) as w: w.write(rows)``.

  Args:
    path: the ``.jsonl`` file; missing parent folders are made.
  """

  def __init__(self, path: str | Path):
    self.path = Path(path)
    self.path.parent.mkdir(parents=True, exist_ok=True)
    if self.path.exists() and self.path.stat().st_size:
      with open(self.path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
          f.seek(0)
          f.truncate(f.read().rfind(b"\n") + 1)
    self._file = open(self.path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115

  def write(self, rows: Iterable[dict[str, Any]]) -> int:
    """Appends ``rows`` (one evaluation), then flushes and fsyncs; returns how many were written.

    Raises:
      ValueError: a row whose keys are not exactly :data:`RECORD_FIELDS` (nothing is written then).
    """
    lines = [_record_line(row) for row in rows]
    self._file.write("".join(lines))
    self._file.flush()
    os.fsync(self._file.fileno())
    return len(lines)

  def close(self) -> None:
    """Closes the file (a second call does nothing)."""
    self._file.close()

  def __enter__(self) -> RecordWriter:
    return self

  def __exit__(self, *exc: object) -> None:
    self.close()


def read_records(path: str | Path) -> list[dict[str, Any]]:
  """Reads a records file back; ``null`` metrics become ``float('nan')``.

  Args:
    path: a file written by :class:`RecordWriter`.

  Returns:
    The records in file order; a final line without a newline (a kill mid-write) is ignored, and
    so are blank lines.

  Raises:
    ValueError: a complete line that is not a JSON object, naming the file and the line number.
  """
  text = Path(path).read_text(encoding="utf-8")
  rows = []
  for number, line in enumerate(text.split("\n")[:-1], start=1):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except json.JSONDecodeError as e:
      row = e
    if not isinstance(row, dict):
      raise ValueError(f"{path}, line {number}: {line[:80]!r} is not a record; accepted: one JSON "
                       "object per line")
    rows.append({k: float("nan") if k in METRICS and v is None else v for k, v in row.items()})
  return rows


def truncate_records(path: str | Path, last_epoch: int) -> int:
  """Atomically rewrites a records file keeping the records with ``epoch <= last_epoch``.

  Args:
    path: a file written by :class:`RecordWriter`.
    last_epoch: the last epoch to keep (the last one a resumed run had finished); 0 keeps none.

  Returns:
    The number of records kept (a partial final line is always dropped).

  Raises:
    ValueError: a malformed line, as in :func:`read_records`.
  """
  kept = [row for row in read_records(path) if row["epoch"] <= last_epoch]
  atomic_write(path, "".join(_record_line(row) for row in kept))
  return len(kept)


RUN_COLUMNS = ("data", "normalize", "optimizer", "schedule", "loss", "batch_size", "epochs")
"""The columns :func:`load` adds from a run's ``config.json``: the same for every row of one run,
so that the frames of several runs concatenate into one."""


def load(run_folder: str | Path) -> Any:
  """A sweep's records as a pandas DataFrame: one row per member and evaluated epoch.

  Args:
    run_folder: a folder written by ``jaxinit sweep`` (:func:`jaxinit.studies.sweep.run`), finished,
      interrupted or still running.

  Returns:
    A ``pandas.DataFrame`` with the columns :data:`RECORD_FIELDS` (metrics float, NaN once a member
    diverged; ``diverged`` bool; ``diverged_epoch`` a nullable ``Int64``), then :data:`RUN_COLUMNS`
    from ``config.json`` and ``run`` (the folder's name). ``df.attrs["config"]`` is the whole
    ``config.json`` and ``df.attrs["run"]`` the ``run.json`` (``{}`` if absent).

  Raises:
    ImportError: pandas is not installed (``pip install "jaxinit[pandas]"``).
    ValueError: ``run_folder`` holds no ``records.jsonl`` or ``config.json``, or a malformed record.

  Example::

    df = jaxinit.results.load("runs/moons-mlp")
    df[df.epoch == df.epoch.max()].groupby("scheme").test_acc.describe()
  """
  try:
    import pandas as pd
  except ImportError:
    raise ImportError('results.load needs pandas; install it with pip install "jaxinit[pandas]" '
                      "(or pip install pandas)") from None
  folder = RunFolder(run_folder)
  for path in (folder.records, folder.config):
    if not path.is_file():
      raise ValueError(f"{folder.path} has no {path.name}; accepted: a run folder written by "
                       "jaxinit sweep")
  config = json.loads(folder.config.read_text(encoding="utf-8"))
  frame = pd.DataFrame(read_records(folder.records), columns=list(RECORD_FIELDS))
  frame = frame.astype({**{m: "float64" for m in METRICS}, "diverged": "bool",
                        "diverged_epoch": "Int64"})
  train = config.get("train", {})
  for column in RUN_COLUMNS:
    frame[column] = config.get(column, train.get(column))
  frame["run"] = folder.path.name
  frame.attrs["config"] = config
  frame.attrs["run"] = folder.read_run()
  return frame
