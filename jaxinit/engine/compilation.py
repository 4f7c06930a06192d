"""JAX's own log of XLA compilations, collected: how tests and benchmarks prove "no recompile".

>>> import jax, jax.numpy as jnp
>>> f = jax.jit(lambda x: 2 * x)
>>> x, y = jnp.ones(3), jnp.zeros(3)
>>> with log() as first:
...   _ = f(x)
>>> with log() as second:
...   _ = f(y)  # other data, same shapes: nothing new
>>> len(first), second
(1, [])
>>> with log() as outer:
...   with log() as inner:
...     _ = jax.jit(lambda x: 3 * x)(x)
>>> len(outer), len(inner)
(1, 1)
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator

import jax

__all__ = ["log"]

_FINISHED = re.compile(r"Finished .*compilation")
_LOCK = threading.RLock()  # a log inside another (one thread) collects in both


class _Collect(logging.Handler):
  def __init__(self) -> None:
    super().__init__(logging.DEBUG)
    self.messages: list[str] = []

  def emit(self, record: logging.LogRecord) -> None:
    self.messages.append(record.getMessage())


@contextlib.contextmanager
def log() -> Iterator[list[str]]:
  """Collects the compilations inside the context (``jax.log_compiles``, as optax's tests do).

  Yields:
    A list that holds, when the context exits, one message per program XLA compiled in it
    (``"Finished XLA compilation of jit(f) in ... sec"``), in order.
  """
  handler, logger = _Collect(), logging.getLogger("jax")
  compiled: list[str] = []
  with _LOCK:
    logger.addHandler(handler)
    try:
      with jax.log_compiles():
        yield compiled
    finally:
      logger.removeHandler(handler)
      compiled.extend(m for m in handler.messages if _FINISHED.search(m))
