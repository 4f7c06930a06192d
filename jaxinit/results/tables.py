"""The summary tables of the paper: :func:`jaxinit.results.stats.summarize` rows as Markdown, LaTeX and
CSV.

Every Markdown and LaTeX table says what it shows: each metric's header names the statistic
(``test_acc (%) mean ± 95% CI``) and a :func:`caption` under the table gives the number of members
per row, the epoch, what the spread is and which members were left out. The CSV keeps every column
of the summary under its own name (``<m>_mean``, ``<m>_std``, ``<m>_ci95``, ``n``, ...).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jaxinit.results.folders import atomic_write
from jaxinit.results.stats import SPREADS, finite

__all__ = ["caption", "markdown", "to_markdown", "to_latex", "to_csv", "write_tables"]

_SHORT = {"ci95": "95% CI", "std": "std", "std_ci95": "std (95% CI)"}
_LONG = {"ci95": "95% CI (Student t half-width, n - 1 dof)",
         "std": "std (sample standard deviation, divisor n - 1)",
         "std_ci95": "std (sample standard deviation, divisor n - 1), with the 95% CI of the mean "
                     "(Student t half-width, n - 1 dof) in parentheses,"}


def _check_spread(spread: str) -> None:
  if spread not in SPREADS:
    raise ValueError(f"spread={spread!r} is not known; accepted: {', '.join(SPREADS)}")


def _columns(table: Sequence[dict[str, Any]], metrics: Sequence[str] | None,
             spread: str) -> tuple[str, ...]:
  _check_spread(spread)
  if metrics is None:
    return tuple(c[:-len("_mean")] for c in (table[0] if table else ()) if c.endswith("_mean"))
  return tuple(metrics)


def _cell(row: dict[str, Any], metric: str, spread: str, digits: int, pm: str) -> str | None:
  """``mean<pm>spread``; accuracies in percent with one decimal; None for a NaN mean."""
  scale, digits = (100.0, 1) if metric.endswith("_acc") else (1.0, digits)
  mean = row[f"{metric}_mean"]
  if not finite(mean):
    return None
  text = f"{mean * scale:.{digits}f}"
  if spread == "std_ci95":
    std, ci = row[f"{metric}_std"], row[f"{metric}_ci95"]
    return text + f"{pm}{std * scale:.{digits}f} ({ci * scale:.{digits}f})" if finite(std) else text
  err = row[f"{metric}_{spread}"]
  return text + f"{pm}{err * scale:.{digits}f}" if finite(err) else text


def _label(value: Any) -> str:
  return f"{value:g}" if isinstance(value, float) else str(value)


def _header(metric: str, spread: str) -> str:
  """``test_acc (%) mean ± 95% CI``, ``train_loss mean ± std``."""
  return f"{metric}{' (%)' if metric.endswith('_acc') else ''} mean ± {_SHORT[spread]}"


def _span(values: Sequence[int]) -> str:
  return f"{min(values)}" if min(values) == max(values) else f"{min(values)} to {max(values)}"


def caption(table: Sequence[dict[str, Any]], spread: str = "ci95", missing: str = "n/a",
            setting: str = "") -> str:
  """What a table of :func:`jaxinit.results.stats.summarize` rows shows, in a paragraph to print under
  it.

  Args:
    table: rows of :func:`jaxinit.results.stats.summarize`.
    spread: what follows ``±``: ``ci95``, ``std`` or ``std_ci95``
      (:data:`jaxinit.results.stats.SPREADS`).
    missing: what the table prints for a NaN mean (``n/a`` in Markdown, ``--`` in LaTeX).
    setting: a sentence on how the members were trained (a sweep's optimizer, learning rate,
      schedule, loss, batch and data), put last; empty: none.

  Returns:
    The statistic and its spread, ``n`` (members in the statistics) per row, or its range where rows
    differ, the epoch, the diverged members left out of the statistics, then ``setting``; one line,
    no newline.

  Raises:
    ValueError: an unknown ``spread``.

  >>> rows = [{"scheme": "a", "epoch": 300, "n": 32, "n_diverged": 0, "n_total": 32},
  ...         {"scheme": "b", "epoch": 300, "n": 30, "n_diverged": 2, "n_total": 32}]
  >>> print(caption(rows, "std"))
  Mean ± std (sample standard deviation, divisor n - 1) over n = 30 to 32 members per row, after
  epoch 300. Diverged members (2 of 64) are excluded from the statistics and counted in the last
  column.
  """
  _check_spread(spread)
  if not table:
    return "No members."
  epochs = [row["epoch"] for row in table]
  when = (f"after epoch {epochs[0]}" if min(epochs) == max(epochs)
          else f"after epochs {_span(epochs)} (each member's last)")
  ns = [row["n"] for row in table]
  diverged, total = sum(row["n_diverged"] for row in table), sum(row["n_total"] for row in table)
  text = [f"Mean ± {_LONG[spread]} over n = {_span(ns)} members per row, {when}.",
          f"Diverged members ({diverged} of {total}) are excluded from the statistics and counted in "
          "the last column."]
  if (other := total - diverged - sum(ns)) > 0:
    text.append(f"{other} other member{'s' if other > 1 else ''} with a non-finite metric "
                f"{'are' if other > 1 else 'is'} excluded too.")
  if 1 in ns:
    text.append("A row with n = 1 shows its mean alone.")
  if 0 in ns:
    text.append(f"A row with n = 0 shows {missing}.")
  if setting:
    text.append(setting)
  return " ".join(text)


def to_markdown(table: Sequence[dict[str, Any]], metrics: Sequence[str] | None = None,
                by: Sequence[str] = ("scheme",), digits: int = 3, spread: str = "ci95",
                setting: str = "") -> str:
  """A Markdown table of :func:`jaxinit.results.stats.summarize` rows, with its :func:`caption` under it.

  Args:
    table: rows of :func:`jaxinit.results.stats.summarize`.
    metrics: the metrics to show (default: every ``<m>_mean`` column, in order).
    by: the group columns, shown first.
    digits: decimals of non-accuracy metrics; ``*_acc`` metrics are shown in percent with one
      decimal (``97.3 ± 1.2``, header ``test_acc (%) mean ± 95% CI``).
    spread: what follows ``±``, named in each metric's header: ``ci95`` (the Student-t 95% half-width,
      header ``<m> mean ± 95% CI``), ``std`` (header ``<m> mean ± std``) or ``std_ci95`` (both:
      ``97.3 ± 1.2 (0.4)``, the std then the 95% half-width, header ``<m> mean ± std (95% CI)``).
      A NaN mean prints ``n/a`` and a NaN spread (``n < 2``) only the mean; the last column,
      ``diverged``, is ``k/n``.
    setting: the caption's last sentence (:func:`caption`).

  Returns:
    The table, one line per row, then a blank line and the caption paragraph, ending with a
    newline.

  Raises:
    ValueError: an unknown ``spread``.

  >>> row = {"scheme": "he_normal", "epoch": 5, "n": 2, "n_diverged": 0, "n_total": 2,
  ...        "test_acc_mean": 0.95, "test_acc_std": 0.01, "test_acc_ci95": 0.0898}
  >>> print(to_markdown([row]), end="")
  | scheme | test_acc (%) mean ± 95% CI | diverged |
  |:---|---:|---:|
  | he_normal | 95.0 ± 9.0 | 0/2 |
  <BLANKLINE>
  Mean ± 95% CI (Student t half-width, n - 1 dof) over n = 2 members per row, after epoch 5. ...
  """
  metrics = _columns(table, metrics, spread)
  body = [[_label(row[k]) for k in by]
          + [_cell(row, m, spread, digits, " ± ") or "n/a" for m in metrics]
          + [f"{row['n_diverged']}/{row['n_total']}"] for row in table]
  return markdown([*by, *(_header(m, spread) for m in metrics), "diverged"], body,
                  caption(table, spread, setting=setting), left=len(by))


def markdown(header: Sequence[str], body: Sequence[Sequence[str]], caption_text: str,
             left: int = 1) -> str:
  """The one Markdown table writer: a header, rows of cells (``|`` escaped), the first ``left``
  columns left-aligned and the others right-aligned, then a blank line and the caption.

  >>> print(markdown(["scheme", "x mean"], [["a|b", "1.0"]], "Means."), end="")
  | scheme | x mean |
  |:---|---:|
  | a\\|b | 1.0 |
  <BLANKLINE>
  Means.
  """
  esc = lambda text: text.replace("|", r"\|")
  lines = ["| " + " | ".join(map(esc, header)) + " |",
           "|" + "|".join([":---"] * left + ["---:"] * (len(header) - left)) + "|"]
  lines += ["| " + " | ".join(map(esc, cells)) + " |" for cells in body]
  return "\n".join([*lines, "", caption_text]) + "\n"


_TEX_WORDS = {"|": r"\textbar{}", "\\": r"\textbackslash{}", "~": r"\textasciitilde{}",
              "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
              '"': r"\textquotedbl{}"}
"""Characters LaTeX's text mode would typeset as something else (a rule set's ``|`` and ``"``)."""


def _latex_escape(text: str) -> str:
  """``text`` with ``_ % & # $ { }`` escaped, the characters of :data:`_TEX_WORDS` as their
  text-mode commands and ``±`` as ``$\\pm$``.

  >>> print(_latex_escape('{"a_(b|c)"} ± 1'))
  \\{\\textquotedbl{}a\\_(b\\textbar{}c)\\textquotedbl{}\\} $\\pm$ 1
  """
  return "".join(_TEX_WORDS.get(ch) or ("\\" + ch if ch in "_%&#${}" else ch)
                 for ch in text).replace("±", r"$\pm$")


def to_latex(table: Sequence[dict[str, Any]], metrics: Sequence[str] | None = None,
             by: Sequence[str] = ("scheme",), digits: int = 3, spread: str = "ci95",
             setting: str = "") -> str:
  """A booktabs ``tabular`` of :func:`jaxinit.results.stats.summarize` rows, and its caption as a
  comment.

  Cells read ``0.973 $\\pm$ 0.012`` and headers ``test\\_acc (\\%) mean $\\pm$ 95\\% CI``; the
  arguments and conventions are those of :func:`to_markdown` (a NaN mean prints ``--``), and
  ``_ % & # $ { }`` in labels are escaped, ``| " \\ ~ ^ < >`` written as their text-mode
  commands. Needs ``\\usepackage{booktabs}``.

  Returns:
    ``\\begin{tabular}...\\end{tabular}``, then one line ``% \\caption{...}`` holding the
    :func:`caption` in LaTeX (uncomment it inside a ``table`` float), ending with a newline.

  Raises:
    ValueError: an unknown ``spread``.
  """
  metrics = _columns(table, metrics, spread)
  header = [_latex_escape(h) for h in [*by, *(_header(m, spread) for m in metrics), "diverged"]]
  lines = [f"\\begin{{tabular}}{{{'l' * len(by)}{'r' * (len(metrics) + 1)}}}", r"\toprule",
           " & ".join(header) + r" \\", r"\midrule"]
  for row in table:
    cells = [_latex_escape(_label(row[k])) for k in by]
    cells += [_cell(row, m, spread, digits, r" $\pm$ ") or "--" for m in metrics]
    lines.append(" & ".join([*cells, f"{row['n_diverged']}/{row['n_total']}"]) + r" \\")
  text = _latex_escape(caption(table, spread, missing="--", setting=setting))
  return "\n".join([*lines, r"\bottomrule", r"\end{tabular}", f"% \\caption{{{text}}}"]) + "\n"


def to_csv(table: Sequence[dict[str, Any]]) -> str:
  """All columns of :func:`jaxinit.results.stats.summarize` rows as CSV (full precision, NaN as ``nan``).

  The columns name their statistic: ``<m>_mean``, ``<m>_std``, ``<m>_ci95``, and ``n``,
  ``n_diverged``, ``n_total``. Any list of dicts is accepted (columns in order of first appearance).
  """
  fields = list(dict.fromkeys(k for row in table for k in row))
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
  writer.writeheader()
  writer.writerows(table)
  return buf.getvalue()


def write_tables(table: Sequence[dict[str, Any]], folder: str | Path, stem: str = "table",
                 metrics: Sequence[str] | None = None, by: Sequence[str] = ("scheme",),
                 digits: int = 3, spread: str = "ci95", setting: str = "") -> dict[str, Path]:
  """Atomically writes ``<stem>.md``, ``<stem>.tex`` and ``<stem>.csv`` into ``folder``.

  The files hold exactly what :func:`to_markdown`, :func:`to_latex` (with the same arguments) and
  :func:`to_csv` return; ``folder`` is made if missing.

  Returns:
    ``{"md": path, "tex": path, "csv": path}``.
  """
  folder = Path(folder)
  texts = {"md": to_markdown(table, metrics, by, digits, spread, setting),
           "tex": to_latex(table, metrics, by, digits, spread, setting), "csv": to_csv(table)}
  return {ext: atomic_write(folder / f"{stem}.{ext}", text) for ext, text in texts.items()}
