"""What a result depends on besides its config: versions, source commit, devices, host and time."""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["environment", "source_state"]

_VERSIONED = ("jax", "jaxlib", "flax", "optax", "numpy", "jaxinit")
_GIT_TIMEOUT_S = 5.0


def _git(*args: str) -> str | None:
  try:
    out = subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True,
                         timeout=_GIT_TIMEOUT_S, check=True)
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip()


def source_state() -> tuple[str | None, bool | None]:
  """``(commit, dirty)`` of the git checkout the jaxinit source lives in: the 40-hex HEAD and
  whether tracked files are modified; ``(None, None)`` outside a git checkout."""
  tracked = _git("ls-files", "--error-unmatch", "__init__.py") is not None
  commit = _git("rev-parse", "HEAD") if tracked else None
  status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
  return commit, None if status is None else bool(status)


def environment() -> dict[str, Any]:
  """The run metadata stored next to a result (``run.json``, ``environment.json``).

  Returns:
    ``python`` and the versions of ``jax``, ``jaxlib``, ``flax``, ``optax``, ``numpy`` and
    ``jaxinit`` (None where not installed); ``git_commit`` (the 40-hex HEAD of the checkout the
    jaxinit source lives in, None unless it is tracked in one) and ``git_dirty`` (tracked files
    modified; None without a commit); ``backend``, ``device_kinds``, ``device_count``,
    ``process_count``; ``hostname``; ``timestamp`` (ISO 8601, UTC).

  >>> env = environment()
  >>> env["device_count"] == len(env["device_kinds"]), env["timestamp"].endswith("+00:00")
  (True, True)
  """
  env: dict[str, Any] = {"python": platform.python_version()}
  for name in _VERSIONED:
    try:
      env[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      env[name] = None
  env["git_commit"], env["git_dirty"] = source_state()
  import jax  # here, so that reading results does not load jax

  devices = jax.devices()
  env.update(backend=jax.default_backend(), device_kinds=[d.device_kind for d in devices],
             device_count=len(devices), process_count=jax.process_count(),
             hostname=socket.gethostname(),
             timestamp=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
  return env
