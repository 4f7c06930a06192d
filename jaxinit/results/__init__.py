"""Results on disk, one import: run folders, records, run metadata, statistics and tables.

The work is done in one module per concern, re-exported here (as ``optax`` re-exports ``_src``):

* :mod:`jaxinit.results.folders`: :class:`RunFolder` (the names of a run's files), the atomic
  writers :func:`atomic_write` and :func:`write_json`, and the start/resume/overwrite rules;
* :mod:`jaxinit.results.records`: the record schema (:data:`METRICS`, :data:`MEMBER_FIELDS`,
  :data:`RECORD_FIELDS`), crash-safe per-epoch records (:func:`epoch_records`,
  :class:`RecordWriter`, :func:`read_records`, :func:`truncate_records`) and a run folder's records
  as a pandas DataFrame (:func:`load`);
* :mod:`jaxinit.results.provenance`: :func:`environment`, the run metadata stored with a result;
* :mod:`jaxinit.results.stats`: :func:`summarize`, the one group-by (mean, sample std, Student-t 95%
  half-width, :func:`ci95_factor`), and :func:`adjust_p` (Holm, Benjamini-Hochberg) for tables of
  several tests;
* :mod:`jaxinit.results.tables`: :func:`to_markdown`, :func:`to_latex` and :func:`to_csv` of its
  rows, each Markdown and LaTeX table naming its statistic and carrying a :func:`caption`;
  :func:`write_tables`.

:mod:`jaxinit.results.paired` (paired tests) and :mod:`jaxinit.results.plots` (figures, matplotlib)
are imported on their own. None of these modules imports jax, flax, optax or the training engine.
"""

from jaxinit.results.folders import RunFolder, atomic_write, write_json
from jaxinit.results.provenance import environment, source_state
from jaxinit.results.records import (
    MEMBER_FIELDS,
    METRICS,
    RECORD_FIELDS,
    RUN_COLUMNS,
    RecordWriter,
    epoch_records,
    load,
    read_records,
    truncate_records,
)
from jaxinit.results.stats import (
    CORRECTIONS,
    SPREADS,
    adjust_p,
    ci95_factor,
    group,
    per_seed_argmin,
    summarize,
)
from jaxinit.results.tables import caption, markdown, to_csv, to_latex, to_markdown, write_tables

__all__ = [
    "RunFolder", "atomic_write", "write_json", "METRICS", "MEMBER_FIELDS", "RECORD_FIELDS",
    "RUN_COLUMNS", "epoch_records", "RecordWriter", "read_records", "truncate_records", "load",
    "environment", "source_state", "SPREADS", "CORRECTIONS", "ci95_factor", "adjust_p",
    "summarize", "group", "per_seed_argmin", "caption", "markdown", "to_markdown", "to_latex",
    "to_csv", "write_tables",
]
