"""Figures for the paper and the CLI, in one publication style.

Figures are built with the object-oriented API (:class:`matplotlib.figure.Figure`), not ``pyplot``:
nothing is registered with a GUI backend, so they render headless (the Agg canvas for PNG) without
changing the backend of a notebook or script that imports this module, and need no ``plt.close``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from jaxinit import initializers

__all__ = ["STYLE", "sample_histogram"]

STYLE: dict[str, object] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
}
"""rcParams every figure is drawn and saved under (applied locally, never globally)."""

FORMATS = (".png", ".pdf", ".svg")
DPI = 150
BINS = 100
_CURVE_POINTS = 512


def check_path(path: str | Path) -> Path:
  """Returns ``path`` as a Path if its suffix is a figure format we write, else raises ValueError."""
  path = Path(path)
  if path.suffix.lower() not in FORMATS:
    raise ValueError(f"cannot save a figure to {str(path)!r}; accepted suffixes: {', '.join(FORMATS)}")
  return path


def _save(fig: Figure, path: Path) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  with mpl.rc_context(STYLE):
    fig.savefig(path, dpi=DPI)


def sample_histogram(values: np.ndarray, target: initializers.Target | None, title: str,
                     path: str | Path) -> Figure:
  """Draws the density histogram of a draw, with the target density over it, and saves it.

  Args:
    values: the draw, any shape; flattened and converted to float64.
    target: the distribution the entries should follow (``init.target(shape)``), or None. Its
      density (the normal approximation for ``orthogonal``) is drawn over the histogram's range
      where :meth:`~jaxinit.initializers.Target.pdf` gives a finite one; none is drawn for the
      families without a density (constant, identity, delta_orthogonal) or a zero variance.
    title: the axes title, e.g. the scheme's canonical name.
    path: where to save (missing parent folders are made); the suffix picks the format
      (``.png``, ``.pdf`` or ``.svg``), 150 dpi.

  Returns:
    The figure: ``fig.axes[0].patches`` are the ``BINS`` (100) bars, whose heights are
    ``np.histogram(values, bins=100, density=True)``, and ``fig.axes[0].lines`` holds the density
    curve when one is drawn.

  Raises:
    ValueError: no values, non-finite values, or a suffix not in ``FORMATS``.
  """
  path = check_path(path)
  values = np.asarray(values, dtype=np.float64).ravel()
  if values.size == 0 or not np.all(np.isfinite(values)):
    raise ValueError(f"cannot plot a histogram of {values.size} values, some non-finite or none; "
                     "accepted: a non-empty array of finite values")
  with mpl.rc_context(STYLE):
    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.add_subplot()
    _, edges, _ = ax.hist(values, bins=BINS, density=True, color="0.65", label="sample")
    if target is not None:
      x = np.linspace(edges[0], edges[-1], _CURVE_POINTS)
      with np.errstate(all="ignore"):
        y = target.pdf(x)
      if y is not None and np.all(np.isfinite(y)):
        label = "normal approximation" if target.family == "orthogonal" else "target density"
        ax.plot(x, y, color="C3", lw=1.8, label=label)
    ax.set_xlabel("weight value")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend()
  _save(fig, path)
  return fig
