"""A sweep's records mirrored to TensorBoard: per-group aggregates of each evaluated epoch.

``records.jsonl`` stays the source of truth; the mirror only lets a researcher watch a run where
they already work. For each group of members (the sweep's table groups: the scheme and each
hyperparameter with several values) and each evaluated epoch it writes, as the epoch's step:

* ``<metric>/mean`` and ``<metric>/median`` of each of :data:`jaxinit.results.records.METRICS` over
  the group's members whose value is finite (none written when no member's is);
* ``diverged/fraction``: the fraction of the group's members marked diverged.

Never one curve per member: a population of thousands would drown TensorBoard. Each group is one
TensorBoard run, ``<folder>/tensorboard/<group>/`` (``he_normal_lr=0.1``), so one chart overlays the
groups. A resumed sweep appends to the same folders; every writer starts with TensorBoard's purge
marker at the first step it will write (``purge_step``), so TensorBoard hides the steps written after
the checkpoint by the run that stopped, as the records are cut back to it.

The writer is tensorboardX: pure Python plus protobuf, the event-file format TensorBoard reads. The
other candidate, ``clu.metric_writers``, writes TensorBoard files through ``tf.summary`` and so
needs TensorFlow, a far larger install than the mirror is worth. tensorboardX is optional
(``pip install '.[tensorboard]'``) and imported only when a writer is asked for.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jaxinit.results.folders import slug
from jaxinit.results.records import METRICS
from jaxinit.results.stats import finite

__all__ = ["LOGS", "FOLDER", "check", "aggregates", "run_name", "TensorBoard", "open_writer"]

LOGS = ("tensorboard",)
"""The metric writers a sweep can mirror its records to (``jaxinit sweep --log``)."""

FOLDER = "tensorboard"
"""The subfolder of a run folder that holds the TensorBoard runs."""

_PACKAGE = "tensorboardX"


def check(log: str | None) -> None:
  """Checks that ``log`` is None or a known writer whose package imports.

  Raises:
    ValueError: an unknown writer, or its package is not installed (one line saying how to install).
  """
  if log is None:
    return
  if log not in LOGS:
    raise ValueError(f"unknown metric writer {log!r}; accepted: {', '.join(LOGS)}")
  try:
    import tensorboardX  # noqa: F401
  except ImportError:
    raise ValueError(f"--log {log} needs the package {_PACKAGE}, which is not installed; install it "
                     f"with pip install {_PACKAGE} (or jaxinit's extra: pip install '.[tensorboard]')"
                     ) from None


def aggregates(rows: Sequence[dict[str, Any]], by: Sequence[str]
               ) -> dict[tuple[Any, ...], dict[str, float]]:
  """The scalars of one epoch's records, per group.

  Args:
    rows: the records of one epoch (:func:`jaxinit.results.records.epoch_records`), one per member.
    by: the record keys that form a group (:func:`jaxinit.studies.sweep.group_keys`).

  Returns:
    ``{group key: {tag: value}}`` in order of first appearance: ``<m>/mean`` and ``<m>/median`` of
    each metric ``m`` over the group's finite values (absent when none is finite) and
    ``diverged/fraction``.

  >>> rows = [{"scheme": "s", "diverged": d, "train_loss": x, "train_acc": 1.0, "test_loss": x,
  ...          "test_acc": 1.0} for d, x in ((False, 1.0), (False, 4.0), (True, float("nan")))]
  >>> out = aggregates(rows, ("scheme",))[("s",)]
  >>> out["train_loss/mean"], out["train_loss/median"], round(out["diverged/fraction"], 3)
  (2.5, 2.5, 0.333)
  """
  groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
  for r in rows:
    groups.setdefault(tuple(r[k] for k in by), []).append(r)
  out = {}
  for key, members in groups.items():
    scalars = {}
    for m in METRICS:
      values = [float(r[m]) for r in members if finite(r[m])]
      if values:
        scalars[f"{m}/mean"] = math.fsum(values) / len(values)
        scalars[f"{m}/median"] = statistics.median(values)
    scalars["diverged/fraction"] = sum(bool(r["diverged"]) for r in members) / len(members)
    out[key] = scalars
  return out


def run_name(key: Sequence[Any], by: Sequence[str]) -> str:
  """A group's TensorBoard run (a folder name): the scheme (:func:`jaxinit.results.folders.slug`),
  then ``_name=value`` of each other key, the value as the tables print it.

  >>> run_name(("normal(stddev=10.0)", 1e6), ("scheme", "lr"))
  'normal_stddev=10.0_lr=1e+06'
  """
  return slug(str(key[0])) + "".join(f"_{k}={v:g}" for k, v in zip(by[1:], key[1:], strict=True))


class TensorBoard:
  """Writes :func:`aggregates` of each epoch's records to one TensorBoard run per group.

  Args:
    folder: the run folder; the events go to ``folder / FOLDER / run_name(group)``.
    by: the record keys that form a group.
    start: the last epoch already done (0 for a new run, the checkpoint's epoch on resume):
      TensorBoard hides the events at later steps written before (``purge_step = start + 1``).
    flush_seconds: how often the events reach the disk (always at :meth:`close`).
  """

  def __init__(self, folder: str | Path, by: Sequence[str], start: int = 0,
               flush_seconds: float = 10.0) -> None:
    self.path, self.by = Path(folder) / FOLDER, tuple(by)
    self.start, self.flush_seconds = start, flush_seconds
    self._writers: dict[tuple[Any, ...], Any] = {}
    self._names: set[str] = set()

  def _writer(self, key: tuple[Any, ...]) -> Any:
    if key not in self._writers:
      from tensorboardX import SummaryWriter

      name = run_name(key, self.by)
      while name in self._names:  # two groups whose names slug alike: keep both
        name += "_"
      self._names.add(name)
      # The process and the start in the file name: a resume within the same second as the run it
      # continues would otherwise reopen (and empty) that run's file, named by the second and host.
      self._writers[key] = SummaryWriter(str(self.path / name), purge_step=self.start + 1,
                                         flush_secs=self.flush_seconds,
                                         filename_suffix=f".{os.getpid()}.{self.start}")
    return self._writers[key]

  def write(self, rows: Sequence[dict[str, Any]]) -> None:
    """Writes one epoch's records' aggregates at step ``rows[0]["epoch"]``."""
    if not rows:
      return
    epoch = int(rows[0]["epoch"])
    for key, scalars in aggregates(rows, self.by).items():
      writer = self._writer(key)
      for tag, value in scalars.items():
        writer.add_scalar(tag, value, epoch)

  def close(self) -> None:
    """Flushes and closes every run's event file."""
    for writer in self._writers.values():
      writer.close()
    self._writers.clear()

  def __enter__(self) -> TensorBoard:
    return self

  def __exit__(self, *exc: object) -> None:
    self.close()


def open_writer(log: str | None, folder: str | Path, by: Sequence[str], start: int = 0
                ) -> contextlib.AbstractContextManager[TensorBoard | None]:
  """The writer ``log`` names into ``folder`` (a context manager), or a null one for None.

  Raises:
    ValueError: as :func:`check`.
  """
  check(log)
  if log is None:
    return contextlib.nullcontext()
  return TensorBoard(folder, by, start)
