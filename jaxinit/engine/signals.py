"""Stopping a long run cleanly: SIGINT and SIGTERM become a request honoured between epochs.

Batch schedulers (Slurm, Kubernetes) stop a job with SIGTERM, a terminal with SIGINT (Ctrl-C). Inside
:func:`stop_requests` the first of either only sets a flag: the run finishes the epoch in flight,
saves its checkpoint and raises :class:`Interrupted` (exit status ``128 + signal``: 130 for SIGINT,
143 for SIGTERM). A second signal stops at once (the checkpoint is then the last one saved).

A SIGINT that the process inherited as ignored (a job started in the background by a
non-interactive shell, as ``cmd &`` does) stays ignored, as Python itself does; SIGTERM is always
handled. Signals are only handled in the main thread; elsewhere the context does nothing.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["Interrupted", "StopRequest", "stop_requests"]


class Interrupted(Exception):
  """A run stopped by a signal after saving what it had; ``exit_code`` is ``128 + signum``."""

  def __init__(self, signum: int, message: str = ""):
    super().__init__(message or f"stopped by {signal.Signals(signum).name}")
    self.signum = signum

  @property
  def exit_code(self) -> int:
    return 128 + self.signum


class StopRequest:
  """The flag a run polls between epochs: ``signum`` of the first stop signal, or None."""

  def __init__(self) -> None:
    self.signum: int | None = None

  def __bool__(self) -> bool:
    return self.signum is not None

  def check(self, message: str = "") -> None:
    """Raises :class:`Interrupted` if a stop was requested."""
    if self.signum is not None:
      raise Interrupted(self.signum, message)


@contextlib.contextmanager
def stop_requests(notice: str = "") -> Iterator[StopRequest]:
  """Handles SIGINT and SIGTERM as stop requests while the context is open (module docstring).

  Args:
    notice: printed to stderr at the first signal, e.g. "stopping after this epoch".

  Yields:
    The :class:`StopRequest` to poll.
  """
  request = StopRequest()
  if threading.current_thread() is not threading.main_thread():
    yield request
    return

  def handler(signum: int, frame: Any) -> None:
    if request.signum is not None:  # the second signal: stop now
      raise Interrupted(signum, "stopped at once by a second signal")
    request.signum = signum
    if notice:
      print(f"\n{signal.Signals(signum).name}: {notice} (signal again to stop at once)",
            file=sys.stderr, flush=True)

  previous = {}
  for sig in (signal.SIGINT, signal.SIGTERM):
    if sig == signal.SIGINT and signal.getsignal(sig) == signal.SIG_IGN:
      continue
    previous[sig] = signal.signal(sig, handler)
  try:
    yield request
  finally:
    for sig, old in previous.items():
      signal.signal(sig, old)
