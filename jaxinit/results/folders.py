"""Output folders: where a command writes, and the one set of rules for starting, resuming,
replacing or refusing a folder, shared by every command that writes one (``sweep``, ``diagnose``).

A folder *holds* a result of a kind when its marker file (``config.json`` for a sweep,
``diagnostics.json`` for diagnostics) is there. The rules:

* an absent or empty folder is started;
* a folder whose marker says no epoch was finished (a run that failed or was killed before its
  first epoch: no records and no checkpoint) holds nothing worth keeping and is started afresh;
* a folder holding a result is refused unless ``resume`` (continue it; its config must be the
  same) or ``overwrite`` (replace it);
* ``overwrite`` never deletes a folder without the marker (it is not ours);
* ``resume`` and ``overwrite`` exclude each other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import secrets
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

__all__ = ["RunFolder", "atomic_write", "write_json", "jsonable", "resolve", "prepare",
           "config_difference", "slug"]


@dataclasses.dataclass(frozen=True)
class RunFolder:
  """A sweep's run folder: the one owner of the names of the files a sweep writes in it.

  Attributes:
    path: the folder.

  >>> RunFolder("runs/moons-mlp").run.name
  'run.json'
  """

  path: Path

  CONFIG: ClassVar[str] = "config.json"
  """The sweep's config (:meth:`jaxinit.studies.sweep.SweepConfig.to_json`): the folder's marker."""
  MEMBERS: ClassVar[str] = "members.json"
  """The members in training order (index, scheme, seed, hyperparameters)."""
  RUN: ClassVar[str] = "run.json"
  """The run record: status, environment, epochs done, timings, the final table."""
  RECORDS: ClassVar[str] = "records.jsonl"
  """One JSON line per member per evaluated epoch (:mod:`jaxinit.results.records`)."""
  CHECKPOINTS: ClassVar[str] = "checkpoints"
  """The population's train state: one Orbax folder per saved epoch, the newest few
  (:mod:`jaxinit.engine.checkpoints`)."""
  LEGACY_CHECKPOINT: ClassVar[str] = "checkpoint.msgpack"
  """The train state as earlier versions saved it (read to resume, removed at the next save)."""
  TABLE: ClassVar[str] = "table"
  """The summary table's stem: ``table.md``, ``table.tex``, ``table.csv``."""

  def __post_init__(self) -> None:
    object.__setattr__(self, "path", Path(self.path))

  @property
  def config(self) -> Path:
    return self.path / self.CONFIG

  @property
  def members(self) -> Path:
    return self.path / self.MEMBERS

  @property
  def run(self) -> Path:
    return self.path / self.RUN

  @property
  def records(self) -> Path:
    return self.path / self.RECORDS

  @property
  def checkpoints(self) -> Path:
    return self.path / self.CHECKPOINTS

  @property
  def legacy_checkpoint(self) -> Path:
    return self.path / self.LEGACY_CHECKPOINT

  def table(self, ext: str) -> Path:
    """The summary table in one format: ``md``, ``tex`` or ``csv``."""
    return self.path / f"{self.TABLE}.{ext}"

  def read_run(self) -> dict[str, Any]:
    """The run record, ``{}`` where there is none yet."""
    return json.loads(self.run.read_text(encoding="utf-8")) if self.run.is_file() else {}

  def write_run(self, record: dict[str, Any]) -> Path:
    """Atomically writes the run record (:func:`write_json`)."""
    return write_json(self.run, record)


def jsonable(obj: Any) -> Any:
  """``obj`` with numpy and jax values as Python ones, tuples as lists, non-finite floats None."""
  if isinstance(obj, dict):
    return {str(k): jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [jsonable(v) for v in obj]
  if isinstance(obj, Path):
    return str(obj)
  if isinstance(obj, (np.ndarray, np.generic)) or hasattr(obj, "__jax_array__") or (
      type(obj).__module__.startswith("jax")):  # a jax.Array, without importing jax here
    return jsonable(np.asarray(obj).tolist())
  if isinstance(obj, float) and not math.isfinite(obj):
    return None
  return obj


def atomic_write(path: str | Path, content: str | bytes) -> Path:
  """Writes ``content`` (text as UTF-8, or bytes) to a temporary file next to ``path``, fsyncs it,
  and renames it onto ``path``.

  Missing parent folders are made; a reader sees the old file or the new one, never a part.

  Returns:
    ``path`` as a Path.
  """
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
  fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
  try:
    text = {} if isinstance(content, bytes) else {"encoding": "utf-8", "newline": ""}
    with os.fdopen(fd, "wb" if isinstance(content, bytes) else "w", **text) as f:
      f.write(content)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    raise
  return path


def write_json(path: str | Path, obj: Any) -> Path:
  """Atomically writes ``obj`` as JSON (indent 2, sorted keys), e.g. a config or a run record.

  Args:
    path: the file; missing parent folders are made.
    obj: dicts, lists, tuples, str, numbers, bool, None, Paths, numpy and jax values; NaN and
      infinities are written as ``null``.

  Returns:
    ``path`` as a Path.
  """
  return atomic_write(path, json.dumps(jsonable(obj), indent=2, sort_keys=True, allow_nan=False)
                      + "\n")



def slug(text: str) -> str:
  """A file-name-safe form of a name: each run of other characters than letters, digits and
  ``_.=-`` becomes one ``_``.

  >>> slug("gaussian(dim=100, n=1024)-mlp")
  'gaussian_dim=100_n=1024_-mlp'
  """
  return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")


def resolve(out: str | Path, name: str) -> Path:
  """The folder ``out/name``, refusing a ``name`` that would leave ``out``.

  >>> str(resolve("runs", "moons-mlp"))
  'runs/moons-mlp'

  Raises:
    ValueError: an empty name, an absolute one, one with ``..``, ``.`` or path separators that
      would write elsewhere than directly inside ``out``, or one with control characters.
  """
  parts = Path(name).parts
  if (not name or Path(name).is_absolute() or len(parts) != 1 or parts[0] in (".", "..")
      or "\\" in name or not name.isprintable()):
    raise ValueError(f"--name {name!r} is not a folder name inside --out; accepted: one plain "
                     "name without '/', '..', a leading '/' or control characters (a newline), "
                     "e.g. my-sweep")
  return Path(out) / name


def config_difference(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
  """The top-level keys whose JSON values differ between two configs, sorted."""
  new = json.loads(json.dumps(new))
  return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _holds_nothing(folder: Path, empty_when_missing: Sequence[str]) -> bool:
  """A folder whose run never finished an epoch: each of ``empty_when_missing`` is absent or empty,
  a file of no bytes or a folder without entries (a run killed during its first compile leaves an
  empty ``records.jsonl`` and an empty ``checkpoints/``)."""
  def empty(path: Path) -> bool:
    if path.is_dir():
      return not any(path.iterdir())
    return not path.exists() or path.stat().st_size == 0
  return bool(empty_when_missing) and all(empty(folder / f) for f in empty_when_missing)


def prepare(folder: str | Path, marker: str, *, config: dict[str, Any] | None = None,
            resume: bool = False, overwrite: bool = False, what: str = "run",
            empty_when_missing: Sequence[str] = (),
            canonical: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> bool:
  """Checks ``folder`` against the flags, clearing it where the rules say so (module docstring).

  Args:
    folder: the output folder.
    marker: the file that says the folder holds a result of this kind, e.g. ``config.json``.
    config: the new config as JSON, compared with the marker's content on ``resume``.
    resume: continue the result in the folder.
    overwrite: replace the result in the folder.
    what: the result's name in messages (``run``, ``diagnostics``).
    empty_when_missing: files or folders without which a marked folder holds no finished work (a
      sweep's records and checkpoints); such a folder is started afresh.
    canonical: applied to the stored config before the comparison (e.g. filling in the defaults
      of settings added since the folder was written); one it cannot read is compared as stored.

  Returns:
    True when the folder is to be resumed, False when it starts empty.

  Raises:
    ValueError: what the rules refuse, saying which flag or folder to use instead.
  """
  folder = Path(folder)
  if resume and overwrite:
    raise ValueError("--resume and --overwrite exclude each other; choose one")
  if folder.exists() and not folder.is_dir():
    raise ValueError(f"output {folder} exists and is not a folder; choose another --name or --out")
  used = folder.is_dir() and any(folder.iterdir())
  ours = (folder / marker).exists()
  if ours and _holds_nothing(folder, empty_when_missing) and not resume:
    shutil.rmtree(folder)
    return False
  if resume:
    if not ours:
      raise ValueError(f"cannot resume: {folder / marker} does not exist; start without --resume")
    if config is not None:
      stored = json.loads((folder / marker).read_text())
      if canonical is not None:
        with contextlib.suppress(TypeError, ValueError, KeyError):  # else compared as stored
          stored = canonical(stored)
      diff = config_difference(stored, config)
      if diff:
        raise ValueError(f"cannot resume {folder}: it was run with a different config (differs "
                         f"in {', '.join(diff)}); use the same flags, or --overwrite, or another "
                         "--name")
    return True
  if used and not overwrite:
    raise ValueError(f"output folder {folder} already holds a {what}; pass --resume to continue "
                     "it, --overwrite to replace it, or choose another --name"
                     if what == "run" else
                     f"output folder {folder} is not empty; pass --overwrite to replace it, or "
                     "choose another --name")
  if used:
    if not ours:
      raise ValueError(f"refusing to overwrite {folder}: it is not a jaxinit {what} folder (no "
                       f"{marker}); choose another --name or --out")
    shutil.rmtree(folder)
  return False
