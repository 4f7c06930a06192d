"""Sweep results: crash-safe per-epoch records, run metadata, and the summary tables of the paper.

A sweep appends one record per member per epoch (:data:`RECORD_FIELDS`) to a JSON-lines file with
:class:`RecordWriter`; each epoch is flushed and fsynced, so a killed run keeps every finished epoch
and ``--resume`` cuts the file back to its last finished epoch with :func:`truncate_records`. A line
counts once its newline is written: a final line without one (a kill mid-write) is ignored by
:func:`read_records` and dropped when a writer reopens the file. NaN (a diverged member's metrics;
any non-finite float) is stored as JSON ``null``. :func:`summarize` reduces records to one row per
group (mean, sample std and the Student-t 95% half-width, diverged members excluded and counted),
which :func:`to_markdown`, :func:`to_latex` and :func:`to_csv` print. Every other file is written
atomically (a temporary file in the same folder, then ``os.replace``). No scipy is needed.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import importlib.metadata
import io
import json
import math
import os
import platform
import secrets
import socket
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

__all__ = [
    "RECORD_FIELDS", "METRICS", "RecordWriter", "read_records", "truncate_records", "write_json",
    "environment", "t_quantile", "summarize", "to_markdown", "to_latex", "to_csv", "write_tables",
]

RECORD_FIELDS = ("member", "scheme", "seed", "lr", "momentum", "scale", "epoch", "train_loss",
                 "train_acc", "test_loss", "test_acc", "diverged", "diverged_epoch")
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
"""The metric fields of a record: floats, NaN (``null`` on disk) once the member has diverged."""

_VERSIONED = ("jax", "jaxlib", "flax", "optax", "numpy", "jaxinit")
_GIT_TIMEOUT_S = 5.0


def _jsonable(obj: Any) -> Any:
  """``obj`` with numpy and jax values as Python ones, tuples as lists, non-finite floats None."""
  if isinstance(obj, dict):
    return {str(k): _jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_jsonable(v) for v in obj]
  if isinstance(obj, Path):
    return str(obj)
  if isinstance(obj, (np.ndarray, np.generic, jax.Array)):
    return _jsonable(np.asarray(obj).tolist())
  if isinstance(obj, float) and not math.isfinite(obj):
    return None
  return obj


def _atomic_write(path: str | Path, text: str) -> Path:
  """Writes ``text`` to a temporary file next to ``path``, fsyncs it, and renames it onto ``path``."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
  fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
  try:
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    raise
  return path


def _record_line(row: dict[str, Any]) -> str:
  if set(row) != set(RECORD_FIELDS):
    extra, missing = sorted(set(row) - set(RECORD_FIELDS)), sorted(set(RECORD_FIELDS) - set(row))
    raise ValueError(f"record has unknown keys {extra} and lacks keys {missing}; accepted: exactly "
                     f"the keys of RECORD_FIELDS {RECORD_FIELDS}")
  return json.dumps({k: _jsonable(row[k]) for k in RECORD_FIELDS}, allow_nan=False) + "\n"


class RecordWriter:
  """Appends records to a JSON-lines file, one fsynced batch (epoch) at a time.

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
    """Appends ``rows`` (one epoch), then flushes and fsyncs; returns how many were written.

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
  _atomic_write(path, "".join(_record_line(row) for row in kept))
  return len(kept)


def write_json(path: str | Path, obj: Any) -> Path:
  """Atomically writes ``obj`` as JSON (indent 2, sorted keys), e.g. a config or :func:`environment`.

  Args:
    path: the file; missing parent folders are made.
    obj: dicts, lists, tuples, str, numbers, bool, None, Paths, numpy and jax values; NaN and
      infinities are written as ``null``.

  Returns:
    ``path`` as a Path.
  """
  return _atomic_write(path, json.dumps(_jsonable(obj), indent=2, sort_keys=True, allow_nan=False)
                       + "\n")


def _git(*args: str) -> str | None:
  try:
    out = subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True,
                         timeout=_GIT_TIMEOUT_S, check=True)
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip()


def environment() -> dict[str, Any]:
  """What a result depends on besides its config: versions, source commit, devices, host, time.

  Returns:
    ``python`` and the versions of ``jax``, ``jaxlib``, ``flax``, ``optax``, ``numpy`` and
    ``jaxinit`` (None where not installed); ``git_commit`` (the 40-hex HEAD of the checkout the
    jaxinit source lives in, None unless it is tracked in one) and ``git_dirty`` (tracked files
    modified; None without a commit); ``backend``, ``device_kinds``, ``device_count``,
    ``process_count``; ``hostname``; ``timestamp`` (ISO 8601, UTC).
  """
  env: dict[str, Any] = {"python": platform.python_version()}
  for name in _VERSIONED:
    try:
      env[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      env[name] = None
  tracked = _git("ls-files", "--error-unmatch", "__init__.py") is not None
  env["git_commit"] = _git("rev-parse", "HEAD") if tracked else None
  status = _git("status", "--porcelain", "--untracked-files=no") if env["git_commit"] else None
  env["git_dirty"] = None if status is None else bool(status)
  devices = jax.devices()
  env.update(backend=jax.default_backend(), device_kinds=[d.device_kind for d in devices],
             device_count=len(devices), process_count=jax.process_count(),
             hostname=socket.gethostname(),
             timestamp=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
  return env


def _betainc(a: float, b: float, x: float, y: float) -> float:
  """The regularized incomplete beta ``I_x(a, b)``, ``y = 1 - x`` given separately for accuracy
  (continued fraction by the modified Lentz method, as in Numerical Recipes' ``betai``)."""
  if x <= 0.0 or y <= 0.0:
    return 0.0 if x <= 0.0 else 1.0
  if x > (a + 1.0) / (a + b + 2.0):
    return 1.0 - _betainc(b, a, y, x)
  log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
  tiny = 1e-300
  c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
  d = 1.0 / (d if abs(d) > tiny else tiny)
  h = d
  for m in range(1, 100_000):
    for aa in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
               -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
      d, c = 1.0 + aa * d, 1.0 + aa / c
      d, c = 1.0 / (d if abs(d) > tiny else tiny), (c if abs(c) > tiny else tiny)
      h *= d * c
    if abs(d * c - 1.0) < 1e-15:
      break
  return math.exp(log_front) * h / a


def t_quantile(p: float, df: float) -> float:
  """The ``p`` quantile of Student's t distribution with ``df`` degrees of freedom (no scipy).

  Bisection on the tail ``P(T > t) = I_{df / (df + t^2)}(df / 2, 1 / 2) / 2`` to float64 precision;
  agrees with ``scipy.stats.t.ppf`` to ~1e-12.

  >>> round(t_quantile(0.975, 10), 6), round(t_quantile(0.025, 1), 4)
  (2.228139, -12.7062)

  Raises:
    ValueError: ``p`` outside (0, 1) or ``df`` not a positive finite number.
  """
  if not (0.0 < p < 1.0 and 0.0 < df < math.inf):
    raise ValueError(f"t_quantile(p={p}, df={df}) is not defined; accepted: 0 < p < 1 and a "
                     "positive finite df")
  if p == 0.5:
    return 0.0
  q = min(p, 1.0 - p)
  tail = lambda t: 0.5 * _betainc(df / 2, 0.5, df / (df + t * t), t * t / (df + t * t))
  lo, hi = 0.0, 1.0
  while tail(hi) > q:
    lo, hi = hi, 2.0 * hi
  while hi - lo > 4e-16 * hi:
    mid = 0.5 * (lo + hi)
    lo, hi = (mid, hi) if tail(mid) > q else (lo, mid)
  t = 0.5 * (lo + hi)
  return t if p > 0.5 else -t


def _finite(value: Any) -> bool:
  return value is not None and math.isfinite(value)


def summarize(rows: Iterable[dict[str, Any]], by: Sequence[str] = ("scheme",),
              metrics: Sequence[str] = METRICS, epoch: int | None = None) -> list[dict[str, Any]]:
  """Mean, sample std and 95% confidence half-width of each metric, per group of members.

  Args:
    rows: records (:func:`read_records`), any number of epochs.
    by: the record keys that form a group; groups are listed in order of first appearance.
    metrics: the metric fields to summarize.
    epoch: the epoch to summarize; None takes each member's last epoch present in ``rows``.

  Returns:
    One dict per group: the ``by`` keys, ``epoch`` (the largest epoch taken in the group), ``n``
    (members not marked diverged whose metrics are all finite: the only ones in the statistics),
    ``n_diverged`` (members marked diverged), ``n_total``, and for each metric ``<m>_mean``,
    ``<m>_std`` (ddof=1) and ``<m>_ci95`` (``t_quantile(0.975, n - 1) * std / sqrt(n)``); the std
    and half-width are NaN when ``n < 2``, the mean when ``n == 0``.

  Raises:
    ValueError: no record at ``epoch``, or two records of one member at one epoch (a resumed run
      whose file was not cut back with :func:`truncate_records`).
  """
  rows, by, metrics = list(rows), tuple(by), tuple(metrics)
  if epoch is None:
    last: dict[int, int] = {}
    for r in rows:
      last[r["member"]] = max(last.get(r["member"], r["epoch"]), r["epoch"])
    rows = [r for r in rows if r["epoch"] == last[r["member"]]]
  else:
    epochs = sorted({r["epoch"] for r in rows})
    rows = [r for r in rows if r["epoch"] == epoch]
    if epochs and not rows:
      raise ValueError(f"no record has epoch {epoch}; accepted: an epoch present, {epochs[0]} to "
                       f"{epochs[-1]}")
  seen: set[tuple[int, int]] = set()
  groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
  for r in rows:
    if (r["member"], r["epoch"]) in seen:
      raise ValueError(f"member {r['member']} has two records at epoch {r['epoch']}; accepted: one "
                       "record per member and epoch")
    seen.add((r["member"], r["epoch"]))
    groups.setdefault(tuple(r[k] for k in by), []).append(r)
  table = []
  for key, members in groups.items():
    ok = [r for r in members if not r["diverged"] and all(_finite(r[m]) for m in metrics)]
    n = len(ok)
    out = dict(zip(by, key, strict=True))
    out.update(epoch=max(r["epoch"] for r in members), n=n,
               n_diverged=sum(bool(r["diverged"]) for r in members), n_total=len(members))
    for m in metrics:
      x = np.array([r[m] for r in ok], dtype=np.float64)
      std = float(x.std(ddof=1)) if n >= 2 else math.nan
      out[f"{m}_mean"] = float(x.mean()) if n else math.nan
      out[f"{m}_std"] = std
      out[f"{m}_ci95"] = t_quantile(0.975, n - 1) * std / math.sqrt(n) if n >= 2 else math.nan
    table.append(out)
  return table


SPREADS = ("ci95", "std")


def _columns(table: Sequence[dict[str, Any]], metrics: Sequence[str] | None,
             spread: str) -> tuple[str, ...]:
  if spread not in SPREADS:
    raise ValueError(f"spread={spread!r} is not known; accepted: {', '.join(SPREADS)}")
  if metrics is None:
    return tuple(c[:-len("_mean")] for c in (table[0] if table else ()) if c.endswith("_mean"))
  return tuple(metrics)


def _cell(row: dict[str, Any], metric: str, spread: str, digits: int, pm: str) -> str | None:
  """``mean<pm>spread``; accuracies in percent with one decimal; None for a NaN mean."""
  scale, digits = (100.0, 1) if metric.endswith("_acc") else (1.0, digits)
  mean, err = row[f"{metric}_mean"], row[f"{metric}_{spread}"]
  if not _finite(mean):
    return None
  text = f"{mean * scale:.{digits}f}"
  return text + f"{pm}{err * scale:.{digits}f}" if _finite(err) else text


def _label(value: Any) -> str:
  return f"{value:g}" if isinstance(value, float) else str(value)


def _header(metric: str) -> str:
  return f"{metric} (%)" if metric.endswith("_acc") else metric


def to_markdown(table: Sequence[dict[str, Any]], metrics: Sequence[str] | None = None,
                by: Sequence[str] = ("scheme",), digits: int = 3, spread: str = "ci95") -> str:
  """A Markdown table of :func:`summarize` rows, e.g. ``| he_normal | 0.973 ± 0.012 | 0/8 |``.

  Args:
    table: rows of :func:`summarize`.
    metrics: the metrics to show (default: every ``<m>_mean`` column, in order).
    by: the group columns, shown first.
    digits: decimals of non-accuracy metrics; ``*_acc`` metrics are shown in percent with one
      decimal (``97.3 ± 1.2``, header ``test_acc (%)``).
    spread: what follows ``±``: ``ci95`` (the 95% half-width) or ``std``. A NaN mean prints ``n/a``
      and a NaN spread (``n < 2``) only the mean; the last column, ``diverged``, is ``k/n``.

  Returns:
    The table, one line per row, ending with a newline.

  Raises:
    ValueError: an unknown ``spread``.
  """
  metrics = _columns(table, metrics, spread)
  esc = lambda s: s.replace("|", r"\|")
  lines = ["| " + " | ".join([*by, *map(_header, metrics), "diverged"]) + " |",
           "|" + "|".join([":---"] * len(by) + ["---:"] * (len(metrics) + 1)) + "|"]
  for row in table:
    cells = [esc(_label(row[k])) for k in by]
    cells += [_cell(row, m, spread, digits, " ± ") or "n/a" for m in metrics]
    lines.append("| " + " | ".join([*cells, f"{row['n_diverged']}/{row['n_total']}"]) + " |")
  return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
  return "".join("\\" + ch if ch in "_%&#${}" else ch for ch in text)


def to_latex(table: Sequence[dict[str, Any]], metrics: Sequence[str] | None = None,
             by: Sequence[str] = ("scheme",), digits: int = 3, spread: str = "ci95") -> str:
  """A booktabs ``tabular`` of :func:`summarize` rows (needs ``\\usepackage{booktabs}``).

  Cells read ``0.973 $\\pm$ 0.012``; the arguments and conventions are those of
  :func:`to_markdown` (a NaN mean prints ``--``), and ``_ % & # $ { }`` in labels are escaped.

  Returns:
    ``\\begin{tabular}...\\end{tabular}``, ending with a newline.

  Raises:
    ValueError: an unknown ``spread``.
  """
  metrics = _columns(table, metrics, spread)
  header = [_latex_escape(h) for h in [*by, *map(_header, metrics), "diverged"]]
  lines = [f"\\begin{{tabular}}{{{'l' * len(by)}{'r' * (len(metrics) + 1)}}}", r"\toprule",
           " & ".join(header) + r" \\", r"\midrule"]
  for row in table:
    cells = [_latex_escape(_label(row[k])) for k in by]
    cells += [_cell(row, m, spread, digits, r" $\pm$ ") or "--" for m in metrics]
    lines.append(" & ".join([*cells, f"{row['n_diverged']}/{row['n_total']}"]) + r" \\")
  return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"


def to_csv(table: Sequence[dict[str, Any]]) -> str:
  """All columns of :func:`summarize` rows as CSV (floats at full precision, NaN as ``nan``)."""
  fields = list(dict.fromkeys(k for row in table for k in row))
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
  writer.writeheader()
  writer.writerows(table)
  return buf.getvalue()


def write_tables(table: Sequence[dict[str, Any]], folder: str | Path, stem: str = "table",
                 metrics: Sequence[str] | None = None, by: Sequence[str] = ("scheme",),
                 digits: int = 3, spread: str = "ci95") -> dict[str, Path]:
  """Atomically writes ``<stem>.md``, ``<stem>.tex`` and ``<stem>.csv`` into ``folder`` (made if
  missing), with the arguments of :func:`to_markdown`.

  Returns:
    ``{"md": path, "tex": path, "csv": path}``.
  """
  folder = Path(folder)
  texts = {"md": to_markdown(table, metrics, by, digits, spread),
           "tex": to_latex(table, metrics, by, digits, spread), "csv": to_csv(table)}
  return {ext: _atomic_write(folder / f"{stem}.{ext}", text) for ext, text in texts.items()}
