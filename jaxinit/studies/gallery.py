"""What every script in ``experiments/`` shares: its command line, resumable stages, and the outputs
a paper uses (tables, figures in PNG and PDF with a caption, ``summary.json``).

An experiment is a frozen config and a :class:`Output` folder (``runs/<name>/`` by default). Its
expensive stages are resumable: a sweep (:meth:`Output.sweep`) that finished is read back, one that
was cut short continues from its checkpoint; any other computation (:meth:`Output.cached`) is
stored as an ``.npz`` keyed by the JSON of what decides it, and recomputed only when that changes.
The paper outputs are written at the top of the folder, the stages in ``stages/``, so
:func:`publish` can copy the former (not the records) under ``experiments/results/<name>/``.

    out = gallery.Output.from_argv(__doc__, "moons_initialization", Config(), TINY, argv)
    if out.finished():  # summary.json holds this config: nothing to do
      return 0
    result = out.sweep("tutorial", sweep_config)
    out.figure(fig, "loss_curves", "Mean over 64 seeds; the band is one std either side.")
    out.table(result.table, "accuracy", by=("scheme",), metrics=("test_acc",))
    out.summary({"he_normal_test_acc": 0.94})
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np

from jaxinit import data as datasets
from jaxinit.results import folders, provenance, tables
from jaxinit.studies import sweep

__all__ = ["parser", "guarded", "Output", "publish", "PAPER_SUFFIXES", "STAGES"]

STAGES = "stages"
"""The sub-folder holding an experiment's runs and cached arrays (not published)."""
PAPER_SUFFIXES = (".md", ".tex", ".csv", ".png", ".pdf", ".json")
"""The files :func:`publish` copies: tables, figures and ``summary.json``."""


def parser(doc: str, name: str) -> argparse.ArgumentParser:
  """The command line every experiment takes: ``--tiny`` and ``--out``.

  ``doc`` is the script's module docstring (its first paragraph is the description); ``--out``
  defaults to ``runs/<name>`` (``runs/<name>-tiny`` with ``--tiny``).
  """
  p = argparse.ArgumentParser(prog=f"python -m experiments.{name}", description=doc.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--tiny", action="store_true",
                 help="a seconds-long version (the test suite runs it)")
  p.add_argument("--out", help=f"output folder (default runs/{name}, or runs/{name}-tiny)")
  p.set_defaults(name=name)
  return p


def _say(text: str) -> None:
  print(text, file=sys.stderr, flush=True)


def guarded(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
  """Runs an experiment's ``main(argv)`` as the ``jaxinit`` command runs its commands: a problem
  the user can fix (missing or wrong data, ``JAXINIT_DATA_DIR`` unset, an ``--out`` that is a file,
  a full disk) is one line on stderr and exit 2, an interrupt exit 130 (the stages finished so far
  are kept: rerun to continue); anything else is a bug and keeps its traceback.

  Use: ``raise SystemExit(gallery.guarded(main))``.
  """
  from jaxinit.engine import signals

  name = getattr(main, "__module__", "experiment").rsplit(".", 1)[-1]
  try:
    return main(argv)
  except signals.Interrupted as e:
    return e.exit_code
  except KeyboardInterrupt:
    _say(f"{name}: interrupted; rerun the same command to continue from its finished stages")
    return 130
  except (ValueError, TypeError, OSError) as e:
    hint = (f" (is {datasets.ENV_VAR} set to the folder holding mnist/?)"
            if isinstance(e, datasets.DataError) else "")
    _say(f"{name}: error: {e}{hint}")
    return 2


@dataclasses.dataclass
class Output:
  """One experiment's output folder and what has been written into it.

  Attributes:
    folder: the folder (made if missing).
    name: the experiment's name (``summary.json`` records it).
    config: the experiment's frozen config dataclass (``summary.json`` records it).
    tiny: whether this is the ``--tiny`` version.
    figures: each figure written so far, ``{stem: caption}``.
    tables: each table written so far, ``{stem: caption}``.
    started: when the Output was made (``time.perf_counter``): ``summary.json``'s wall time.
    computed: the stages this run computed (not read back), in order.
  """

  folder: Path
  name: str
  config: Any
  tiny: bool = False
  figures: dict[str, str] = dataclasses.field(default_factory=dict)
  tables: dict[str, str] = dataclasses.field(default_factory=dict)
  started: float = dataclasses.field(default_factory=time.perf_counter)
  computed: list[str] = dataclasses.field(default_factory=list)

  def __post_init__(self) -> None:
    self.folder = Path(self.folder)
    self.folder.mkdir(parents=True, exist_ok=True)

  @classmethod
  def from_args(cls, args: argparse.Namespace, config: Any) -> Output:
    """The folder of a parsed :func:`parser` command line."""
    out = args.out or f"runs/{args.name}{'-tiny' if args.tiny else ''}"
    return cls(Path(out), args.name, config, tiny=args.tiny)

  @classmethod
  def from_argv(cls, doc: str, name: str, full: Any, tiny: Any,
                argv: Sequence[str] | None = None) -> Output:
    """A script's Output from its command line (:func:`parser`): ``full`` or, with ``--tiny``,
    ``tiny`` is its config. ``argv`` None reads ``sys.argv``."""
    args = parser(doc, name).parse_args(argv)
    return cls.from_args(args, tiny if args.tiny else full)

  def finished(self) -> bool:
    """Whether the folder holds a finished run of this config: a ``summary.json`` (written last)
    with the same config and ``tiny``. A script then returns at once, saying so; delete
    ``summary.json`` to redraw its tables and figures from the stored stages."""
    path = self.folder / "summary.json"
    if not path.exists():
      return False
    stored = json.loads(path.read_text())
    config = json.loads(json.dumps(folders.jsonable(dataclasses.asdict(self.config))))
    if stored.get("config") != config or stored.get("tiny") != self.tiny:
      return False
    _say(f"{self.name}: finished earlier with this config, see {path} (delete it to redraw the "
         "tables and figures from the stored stages)")
    return True

  def stage(self, name: str) -> Path:
    """``<folder>/stages/<name>``: where a stage keeps its files."""
    return self.folder / STAGES / name

  def sweep(self, name: str, config: sweep.SweepConfig, **kwargs: Any) -> sweep.SweepResult:
    """Runs the sweep in ``stages/<name>``, resumes it if it was cut short, or reads it back if it
    finished (nothing is trained again). A folder holding another config is refused
    (ValueError naming the settings that differ). ``kwargs`` go to :func:`jaxinit.studies.sweep.run`."""
    folder = self.stage(name)
    finished = sweep.read_finished(config, folder)
    if finished is not None:
      _say(f"{self.name}: {name}: finished earlier, read from {folder}")
      return finished
    self.computed.append(name)
    return sweep.run(config, folder, resume=folders.RunFolder(folder).run.exists(), **kwargs)

  def cached(self, name: str, key: Any, compute: Callable[[], dict[str, np.ndarray]]
             ) -> dict[str, np.ndarray]:
    """``compute()``'s arrays, stored in ``stages/<name>.npz`` with the JSON of ``key``; read back
    when the stored key equals ``key``, computed (and stored atomically) otherwise.

    Args:
      name: the stage's file name.
      key: everything that decides the arrays (a config dataclass, a dict), JSON-able.
      compute: returns ``{name: array}``.
    """
    path = self.stage(name).with_suffix(".npz")
    key_text = json.dumps(folders.jsonable(
        dataclasses.asdict(key) if dataclasses.is_dataclass(key) else key), sort_keys=True)
    if path.exists():
      with np.load(path) as stored:
        if str(stored["__key__"]) == key_text:
          _say(f"{self.name}: {name}: computed earlier, read from {path}")
          return {k: stored[k] for k in stored.files if k != "__key__"}
    self.computed.append(name)
    arrays = {k: np.asarray(v) for k, v in compute().items()}
    buf = io.BytesIO()
    np.savez(buf, __key__=np.array(key_text), **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)
    return arrays

  def figure(self, fig: Any, stem: str, caption: str) -> list[Path]:
    """Saves ``fig`` (a :class:`matplotlib.figure.Figure`) as ``<stem>.png`` and ``<stem>.pdf``
    with ``caption`` (what is drawn, what a band is) printed under it, and records the caption.

    The caption goes under everything drawn, legends anchored below the axes included; a legend
    anchored to the figure's own bottom (``loc="outside lower ..."``) follows the figure's edge
    when it is saved and would sit on the caption: put such legends above or beside the axes.

    Returns:
      The two paths.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from jaxinit.results import plots

    with mpl.rc_context(plots.STYLE):  # under everything drawn, legends below the axes included
      renderer = FigureCanvasAgg(fig).get_renderer()
      fig.draw(renderer)  # the layout engine places the axes and legends first
      box = fig.get_tightbbox(renderer)
    width, height = fig.get_size_inches()
    fig.text(min(box.x0, 0.0) / width, min(box.y0 - 0.08, 0.0) / height, caption, ha="left",
             va="top", wrap=True, fontsize=9, transform=fig.transFigure)
    paths = [self.folder / f"{stem}.{ext}" for ext in ("png", "pdf")]
    for path in paths:
      plots.save(fig, path)
    self.figures[stem] = caption
    return paths

  def table(self, rows: Sequence[dict[str, Any]], stem: str, *, by: Sequence[str],
            metrics: Sequence[str] | None = None, setting: str = "", digits: int = 3) -> str:
    """Writes :func:`jaxinit.results.stats.summarize` rows as ``<stem>.{md,tex,csv}``: each metric's
    mean,
    sample std and Student-t 95% CI, the caption stating n (:func:`jaxinit.results.tables.write_tables`).

    Returns:
      The Markdown (table and caption).
    """
    paths = tables.write_tables(rows, self.folder, stem, metrics, by, digits, "std_ci95", setting)
    self.tables[stem] = tables.caption(rows, "std_ci95", setting=setting)
    return paths["md"].read_text()

  def text_table(self, stem: str, header: Sequence[str], body: Sequence[Sequence[str]], caption: str,
                 rows: Sequence[dict[str, Any]], left: int = 1) -> str:
    """Writes a table the script formats itself: ``<stem>.md`` (``header``, ``body``, ``caption``;
    the first ``left`` columns left-aligned) and ``<stem>.csv`` (``rows``, every number unrounded),
    and records the caption.

    Returns:
      The Markdown.
    """
    text = tables.markdown(header, body, caption, left=left)
    (self.folder / f"{stem}.md").write_text(text)
    (self.folder / f"{stem}.csv").write_text(tables.to_csv(rows))
    self.tables[stem] = caption
    return text

  def summary(self, headline: dict[str, Any]) -> Path:
    """Writes ``summary.json``: the experiment, its config, ``headline`` (the numbers a paper
    cites), the figures and tables with their captions, the wall time and the environment.

    ``wall_s`` is this call's time since the :class:`Output` was made, and ``computed`` the stages
    it computed; when every stage was read back (nothing computed) the earlier ``summary.json``'s
    time, environment and stages are kept, so redrawing the figures does not overwrite the cost of
    the run. A call that completes a run computed in parts records its own part only.

    Returns:
      Its path.
    """
    path = self.folder / "summary.json"
    run = {"wall_s": time.perf_counter() - self.started, "environment": provenance.environment(),
           "computed": self.computed}
    if not self.computed and path.exists():
      old = json.loads(path.read_text())
      run = {k: old.get(k, v) for k, v in run.items()}
    return folders.write_json(path, {
        "experiment": self.name, "tiny": self.tiny, "config": dataclasses.asdict(self.config),
        "headline": headline, "figures": self.figures, "tables": self.tables, **run})


def publish(folder: str | Path, dest: str | Path) -> list[Path]:
  """Copies an experiment folder's paper outputs (:data:`PAPER_SUFFIXES` files at its top level,
  not its ``stages/``) into ``dest``, replacing what ``dest`` held.

  Returns:
    The copied files.

  Raises:
    ValueError: ``folder`` has no ``summary.json`` (the experiment did not finish), or its
      ``environment`` names no commit or a tree with uncommitted changes: a published number must
      be reproducible from a commit (:func:`jaxinit.results.provenance.environment`).
  """
  folder, dest = Path(folder), Path(dest)
  if not (folder / "summary.json").exists():
    raise ValueError(f"{folder} has no summary.json: the experiment has not finished; run it first")
  env = json.loads((folder / "summary.json").read_text()).get("environment", {})
  if env.get("git_commit") is None or env.get("git_dirty") is not False:
    state = ("a tree with uncommitted changes" if env.get("git_dirty")
             else "a source tree outside git")
    raise ValueError(f"{folder} was made from {state} (commit {env.get('git_commit')}); published "
                     "results must come from a clean commit: commit, then rerun it into a new folder")
  if dest.exists():
    shutil.rmtree(dest)
  dest.mkdir(parents=True)
  copied = []
  for path in sorted(folder.iterdir()):
    if path.is_file() and path.suffix in PAPER_SUFFIXES:
      copied.append(Path(shutil.copy2(path, dest / path.name)))
  return copied
