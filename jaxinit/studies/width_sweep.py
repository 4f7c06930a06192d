"""A width sweep: the same sweep at several hidden widths, one compiled program per width.

:func:`run` runs :func:`jaxinit.studies.sweep.run` once per width into ``<folder>/width_<n>/`` (each a
complete, resumable sweep: learning rates x seeds x schemes vmapped in its one program), then
writes, into ``folder``:

* ``by_width.{md,tex,csv}``: every width's final metrics per group (mean, std, 95% CI over seeds),
  the width first;
* ``optimal_lr.{md,csv}`` when the sweep has several learning rates: per width (and scheme), the
  learning rate of the lowest mean final training loss, and that loss;
* ``lr_transfer.{png,pdf}``: the final training loss against the learning rate, one curve per width
  (:func:`jaxinit.results.plots.lr_transfer`): where the minima line up, the learning rate transfers
  across width (Yang et al. 2022, "Tensor Programs V", Fig. 1).

With a width-scaled parametrization whose base width is one of the widths (the command line's
default: the smallest, :func:`jaxinit.nets.parametrizations.with_base`), that width trains exactly as SP.
Interrupted, the widths already finished are kept; ``resume=True`` continues the others.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jaxinit.results import folders, plots, tables
from jaxinit.studies import sweep

__all__ = ["WidthSweep", "run", "configs", "optimal_lr", "add_shift", "folder_name"]


def folder_name(width: int) -> str:
  return f"width_{width}"


def configs(config: sweep.SweepConfig, widths: Sequence[int]) -> list[sweep.SweepConfig]:
  """``config`` at each width, in increasing order.

  Raises:
    ValueError: fewer than one width, duplicates, or a model a width-scaled parametrization cannot
      scale (unequal hidden widths, a CNN).
  """
  widths = [int(w) for w in widths]
  if not widths or len(set(widths)) != len(widths):
    raise ValueError(f"widths must be distinct hidden widths, at least one; got {widths}")
  return [dataclasses.replace(config, model=config.model.at_width(w)) for w in sorted(widths)]


def optimal_lr(table: Sequence[dict[str, Any]], metric: str = "train_loss_mean",
               by: Sequence[str] = ("width", "scheme")) -> list[dict[str, Any]]:
  """Per group of ``by``, the row with the lowest finite ``metric`` over learning rates.

  Args:
    table: summary rows with ``lr`` and the ``by`` keys (:func:`jaxinit.results.summarize`).
    metric: the column to minimize.
    by: the keys of a group.

  Returns:
    One row per group, in order of first appearance: the ``by`` keys, ``lr`` and ``metric``
    (NaN ``lr`` when no learning rate of the group has a finite value: all diverged).
  """
  best: dict[tuple, dict[str, Any]] = {}
  for row in table:
    key = tuple(row[k] for k in by)
    value = row[metric]
    entry = best.setdefault(key, {**{k: row[k] for k in by}, "lr": math.nan, metric: math.nan})
    if math.isfinite(value) and not value >= entry[metric]:
      entry.update(lr=row["lr"], **{metric: value})
  return list(best.values())


def add_shift(optimal: Sequence[dict[str, Any]], by: Sequence[str], along: str, base: Any) -> None:
  """Sets each :func:`optimal_lr` row's ``shift``: ``log2(lr / lr_base)``, how many factors of 2
  its best learning rate moved from that of the row of its group (the same values of ``by`` but
  ``along``) where ``along == base``; NaN where either diverged everywhere.

  Args:
    optimal: :func:`optimal_lr`'s rows, each with the keys ``by`` and ``lr``; changed in place.
    by: the group keys :func:`optimal_lr` was given, ``along`` among them.
    along: the key the shift is measured along, e.g. ``"width"``.
    base: its value in the reference rows, e.g. the smallest width.

  >>> rows = [{"width": 64, "lr": 0.5}, {"width": 256, "lr": 0.125}]
  >>> add_shift(rows, ("width",), "width", 64); [r["shift"] for r in rows]
  [0.0, -2.0]
  """
  group = lambda row: tuple(row[k] for k in by if k != along)
  bases = {group(r): r["lr"] for r in optimal if r[along] == base}
  for row in optimal:
    ref = bases[group(row)]
    row["shift"] = math.log2(row["lr"] / ref) if math.isfinite(row["lr"] * ref) else math.nan


@dataclasses.dataclass(frozen=True)
class WidthSweep:
  """What :func:`run` returns.

  Attributes:
    folder: the sweep's folder.
    results: each width's :class:`jaxinit.studies.sweep.SweepResult`, by width.
    table: the ``by_width`` rows.
    optimal: the :func:`optimal_lr` rows (empty with one learning rate).
    markdown: ``by_width.md``'s text.
  """

  folder: Path
  results: dict[int, sweep.SweepResult]
  table: list[dict[str, Any]]
  optimal: list[dict[str, Any]]
  markdown: str


def run(config: sweep.SweepConfig, widths: Sequence[int], folder: str | Path, *,
        resume: bool = False, overwrite: bool = False, figures: bool = True, quiet: bool = False,
        **kwargs: Any) -> WidthSweep:
  """Runs ``config`` at each of ``widths`` (module docstring).

  Args:
    config: the sweep; its model's hidden widths are replaced by each width.
    widths: the hidden widths.
    folder: the output folder; width ``n`` goes to ``folder / "width_<n>"``.
    resume: read back the widths that finished (:func:`jaxinit.studies.sweep.read_finished`: nothing
      is trained or rewritten), continue those cut short and start the others.
    overwrite: replace every width's folder.
    figures: write each width's figures and the learning-rate transfer figure.
    quiet: no progress bars.
    **kwargs: passed to :func:`jaxinit.studies.sweep.run` (``data_dir``, ``checkpoint_seconds``, ...).

  Returns:
    The :class:`WidthSweep`.
  """
  folder = Path(folder)
  per_width = configs(config, widths)
  out: dict[int, sweep.SweepResult] = {}
  for k, (width, cfg) in enumerate(zip(sorted(int(w) for w in widths), per_width, strict=True)):
    sub = folder / folder_name(width)
    finished = sweep.read_finished(cfg, sub) if resume else None
    print(f"width sweep: width {width} ({k + 1} of {len(per_width)}), {cfg.model.parametrization}"
          + (f": finished earlier, read from {sub}" if finished else ""), file=sys.stderr,
          flush=True)
    started = folders.RunFolder(sub).config.exists()
    out[width] = finished or sweep.run(cfg, sub, resume=resume and started, overwrite=overwrite,
                                       figures=figures, quiet=quiet, **kwargs)
  by = ("width", *sweep.group_keys(per_width[0]))
  table = [{"width": w, **row} for w, result in out.items() for row in result.table]
  setting = (f"{sweep.setting(per_width[0])} Hidden widths {', '.join(map(str, out))}; "
             f"parametrization {per_width[0].model.parametrization}.")
  paths = tables.write_tables(table, folder, stem="by_width", by=by, spread=sweep.SPREAD,
                              setting=setting)
  optimal: list[dict[str, Any]] = []
  if len(config.lrs) > 1:
    optimal = optimal_lr(table, by=[k for k in by if k != "lr"])
    _write_optimal(optimal, folder, setting)
    if figures:
      fig = plots.lr_transfer(table, title=per_width[0].model.parametrization)
      for ext in (".png", ".pdf"):
        plots.save(fig, folder / f"lr_transfer{ext}")
  return WidthSweep(folder, out, table, optimal, Path(paths["md"]).read_text())


def _write_optimal(optimal: Sequence[dict[str, Any]], folder: Path, setting: str) -> None:
  columns = list(optimal[0])
  folders.atomic_write(folder / "optimal_lr.csv", tables.to_csv(optimal))
  body = [[*(str(r[c]) for c in columns[:-2]), f"{r['lr']:g}", f"{r[columns[-1]]:.4f}"]
          for r in optimal]
  caption = ("The learning rate of the lowest mean final training loss over the grid, per width. "
             + setting)
  folders.atomic_write(folder / "optimal_lr.md", tables.markdown(
      [*columns[:-2], "best lr", "train loss (mean)"], body, caption, left=len(columns) - 2))
