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
import json
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["resolve", "prepare", "config_difference", "slug"]


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
    ValueError: an empty name, an absolute one, or one with ``..``, ``.`` or path separators
      that would write elsewhere than directly inside ``out``.
  """
  parts = Path(name).parts
  if (not name or Path(name).is_absolute() or len(parts) != 1 or parts[0] in (".", "..")
      or "\\" in name):
    raise ValueError(f"--name {name!r} is not a folder name inside --out; accepted: one plain "
                     "name without '/', '..' or a leading '/', e.g. my-sweep")
  return Path(out) / name


def config_difference(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
  """The top-level keys whose JSON values differ between two configs, sorted."""
  new = json.loads(json.dumps(new))
  return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _holds_nothing(folder: Path, empty_when_missing: Sequence[str]) -> bool:
  """A folder whose run never finished an epoch: none of ``empty_when_missing`` is there."""
  return bool(empty_when_missing) and not any((folder / f).exists() for f in empty_when_missing)


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
    empty_when_missing: files without which a marked folder holds no finished work (a sweep's
      records and checkpoint); such a folder is started afresh.
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
