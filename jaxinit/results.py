"""Sweep results, one import: the records, run metadata, statistics and tables of the paper.

The work is done in one module per concern, re-exported here (as ``optax`` re-exports ``_src``):

* :mod:`jaxinit.records`: crash-safe per-epoch records (:data:`RECORD_FIELDS`, :func:`epoch_records`,
  :class:`RecordWriter`, :func:`read_records`, :func:`truncate_records`), a run folder's records as
  a pandas DataFrame (:func:`load`) and atomic :func:`write_json`;
* :mod:`jaxinit.provenance`: :func:`environment`, the run metadata stored with a result;
* :mod:`jaxinit.stats`: :func:`summarize`, the one group-by (mean, sample std, Student-t 95%
  half-width), and :func:`t_quantile` with its tail :func:`t_two_sided_p`;
* :mod:`jaxinit.tables`: :func:`to_markdown`, :func:`to_latex` and :func:`to_csv` of its rows, each
  Markdown and LaTeX table naming its statistic and carrying a :func:`caption`; :func:`write_tables`.
"""

from jaxinit.provenance import environment
from jaxinit.records import (
    METRICS,
    RECORD_FIELDS,
    RUN_COLUMNS,
    RecordWriter,
    atomic_write,
    epoch_records,
    load,
    read_records,
    truncate_records,
    write_json,
)
from jaxinit.stats import SPREADS, group, summarize, t_quantile, t_two_sided_p
from jaxinit.tables import caption, markdown, to_csv, to_latex, to_markdown, write_tables

__all__ = [
    "RECORD_FIELDS", "METRICS", "RUN_COLUMNS", "epoch_records", "RecordWriter", "read_records",
    "truncate_records", "load",
    "write_json", "atomic_write", "environment", "SPREADS", "t_quantile", "t_two_sided_p", "summarize",
    "group",
    "caption", "markdown",
    "to_markdown", "to_latex", "to_csv", "write_tables",
]
