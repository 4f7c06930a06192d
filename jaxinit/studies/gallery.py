"""What every script in ``experiments/`` shares: its command line, resumable stages, and the outputs
a paper uses (tables, figures in PNG and PDF with a caption, ``summary.json``).

An experiment is a frozen config and a :class:`Output` folder (``runs/<name>/`` by default). Its
expensive stages are resumable: a sweep (:meth:`Output.sweep`) that finished is read back, one that
was cut short continues from its checkpoint; any other computation (:meth:`Output.cached`) is
stored as an ``.npz`` keyed by the JSON of what decides it, and recomputed only when that changes.
The paper outputs are written at the top of the folder, the stages in ``stages/``, so
:func:`publish` can copy the former (not the records) under ``experiments/results/<name>/``::

    out = gallery.Output.from_argv(__doc__, "moons_initialization", Config(), TINY, argv)
    if out.finished():  # summary.json holds this config: nothing to do
      return 0
    result = out.sweep("tutorial", sweep_config)
    out.figure(fig, "loss_curves", "Mean over 64 seeds; the band is one std either side.")
    out.table(result.table, "accuracy", by=("scheme",), metrics=("test_acc",))
    out.summary({"he_normal_test_acc": 0.94})

Any setting of the config can be changed from the command line without editing the script:
``--set seeds=8 --set train.epochs=5`` (:func:`reconfigure`: ``dataclasses.replace``, dotted keys for
nested configs, each value parsed by the field's type, the config's own checks run). The config that
ran is what ``summary.json`` records, and a changed config gets its own default folder,
``runs/<name>[-tiny]-<8 hex digits of the config>``, so it never reuses nor clobbers the unchanged
config's; the same ``--set`` again finds (resumes) that folder.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import shutil
import sys
import time
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np

from jaxinit import data as datasets
from jaxinit import names
from jaxinit.results import folders, provenance, tables
from jaxinit.studies import sweep

__all__ = ["parser", "guarded", "reconfigure", "setting_text", "Output", "publish", "PAPER_SUFFIXES",
           "STAGES"]

STAGES = "stages"
"""The sub-folder holding an experiment's runs and cached arrays (not published)."""
PAPER_SUFFIXES = (".md", ".tex", ".csv", ".png", ".pdf", ".json")
"""The files :func:`publish` copies: tables, figures and ``summary.json``."""


def parser(doc: str, name: str, config: Any = None) -> argparse.ArgumentParser:
  """The command line every experiment takes: ``--tiny``, ``--set KEY=VALUE`` and ``--out``.

  ``doc`` is the script's module docstring (its first paragraph is the description); ``config``,
  when given, is the script's full config, whose settings ``--help`` lists. ``--out`` defaults to
  ``runs/<name>`` (``runs/<name>-tiny`` with ``--tiny``), or with a config that ``--set`` changed
  to that folder and ``-<8 hex digits of the config>`` (:meth:`Output.from_args`).
  """
  p = argparse.ArgumentParser(prog=f"python -m experiments.{name}", description=doc.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--tiny", action="store_true",
                 help="a seconds-long version (the test suite runs it)")
  keys = "" if config is None else f"; keys: {', '.join(_settable(config))}"
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="change one setting of the config (full, or --tiny's); repeatable, dotted keys "
                 "for nested configs (train.epochs=5); the value by the setting's type: a number, "
                 "true/false, none, text, a list as 1,2,3 or as JSON ([[\"adam\", 0.004]])" + keys)
  p.add_argument("--out", help=f"output folder (default runs/{name}, or runs/{name}-tiny; a config "
                 "changed by --set gets its own, that name and -<8 hex digits of the config, so the "
                 "unchanged config's folder is never touched and the same --set resumes its own). An "
                 "--out holding another config's run: its finished sweeps are refused, its other "
                 "stages recomputed")
  p.set_defaults(name=name)
  return p


_NONE = ("none", "null")
_BOOLS = {"true": True, "yes": True, "on": True, "1": True,
          "false": False, "no": False, "off": False, "0": False}
_SCALARS = (bool, int, float, str)


def _settable(config: Any) -> list[str]:
  """The fields ``--set`` may name at the top of ``config``, in their order."""
  return [f.name for f in dataclasses.fields(config) if f.init]


def _hints(cls: type) -> dict[str, Any]:
  """``cls``'s field types, resolved; {} where an annotation does not resolve (the current
  value's type stands in)."""
  try:
    return typing.get_type_hints(cls)
  except (NameError, TypeError, AttributeError):
    return {}


def _type_text(hint: Any) -> str:
  """A type as a reader writes it: ``int``, ``tuple[int, ...]``, ``int | None``."""
  if isinstance(hint, type) and not typing.get_args(hint):
    return "None" if hint is type(None) else hint.__name__
  return str(hint).replace("typing.", "").replace("NoneType", "None")


def _is_none(value: Any, is_text: bool) -> bool:
  return value.strip().lower() in _NONE if is_text else value is None


def _parse(value: Any, hint: Any, is_text: bool = True) -> Any:
  """``value`` (command-line text, or with ``is_text`` False an object read from JSON) as a
  value of type ``hint``.

  Raises:
    ValueError: ``value`` is not one.
    TypeError: ``hint`` is a type ``--set`` does not parse.
  """
  origin, args = typing.get_origin(hint), typing.get_args(hint)
  if origin in (typing.Union, types.UnionType):
    if type(None) in args and _is_none(value, is_text):
      return None
    for option in (a for a in args if a is not type(None)):
      with contextlib.suppress(ValueError):
        return _parse(value, option, is_text)
    raise ValueError(value)
  if hint is tuple or origin is tuple:
    if is_text:
      text = value.strip()
      if text.startswith("["):
        return _parse(json.loads(text), hint, is_text=False)
      items: list[Any] = names.split_list(text, "value") if text else []
    elif isinstance(value, list):
      items = value
    else:
      raise ValueError(value)
    kinds = (args[:1] * len(items) if len(args) == 2 and args[1] is Ellipsis else
             args or (Any,) * len(items))
    if len(kinds) != len(items):
      raise ValueError(f"{len(items)} values; accepted: {len(kinds)}")
    return tuple(_parse(item, kind, is_text) for item, kind in zip(items, kinds, strict=True))
  if hint is Any:
    return value if is_text or not isinstance(value, list) else tuple(
        _parse(v, Any, False) for v in value)
  if hint is type(None):
    if _is_none(value, is_text):
      return None
    raise ValueError(value)
  if hint not in _SCALARS:
    raise TypeError(f"a setting of type {_type_text(hint)}, which --set does not parse; accepted: "
                    "int, float, bool, str, tuples of those, and Optional")
  if not is_text:  # JSON: a number where a float is expected, else the type itself
    if type(value) is hint or (hint is float and type(value) is int):
      return hint(value)
    raise ValueError(value)
  if hint is bool:
    if value.strip().lower() not in _BOOLS:
      raise ValueError(value)
    return _BOOLS[value.strip().lower()]
  return hint(value.strip()) if hint in (int, float) else value


def _text(value: Any, hint: Any) -> str:
  """The text :func:`_parse` reads back as ``value``: a scalar as written, a tuple of scalars as
  ``a,b,c`` where that reads back, else (nested tuples, commas in the items) as JSON."""
  if value is None:
    return "none"
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, float):
    return repr(value)
  if isinstance(value, (int, str)):
    return str(value)
  if isinstance(value, tuple):
    if value and all(isinstance(v, _SCALARS) for v in value):
      flat = ",".join(_text(v, Any) for v in value)
      with contextlib.suppress(ValueError, TypeError):
        if _parse(flat, hint) == value:
          return flat
    return json.dumps(folders.jsonable(value))
  raise TypeError(f"{type(value).__name__} values cannot be written for --set")


def _field(config: Any, key: str) -> tuple[Any, str, Any]:
  """``(owner, name, type)`` of the setting ``key`` (dotted for nested configs) of ``config``.

  Raises:
    ValueError: no such setting, naming those accepted.
  """
  owner, parts = config, key.split(".")
  for i, part in enumerate(parts):
    done = ".".join(parts[:i])
    if not dataclasses.is_dataclass(owner) or isinstance(owner, type):
      raise ValueError(f"unknown --set key {key!r}: {done} is a value, not a config with settings")
    if part not in _settable(owner):
      where = f" in {done}" if done else ""
      raise ValueError(f"unknown --set key {key!r}; accepted{where}: {', '.join(_settable(owner))}")
    if i < len(parts) - 1:
      owner = getattr(owner, part)
  return owner, parts[-1], _hints(type(owner)).get(parts[-1], type(getattr(owner, parts[-1])))


def _replaced(config: Any, parts: Sequence[str], value: Any) -> Any:
  """``config`` with the setting at the path ``parts`` replaced, each level by
  ``dataclasses.replace`` (so each level's ``__post_init__`` checks the result)."""
  inner = value if len(parts) == 1 else _replaced(getattr(config, parts[0]), parts[1:], value)
  return dataclasses.replace(config, **{parts[0]: inner})


def setting_text(config: Any, key: str) -> str:
  """The text ``--set key=...`` reads back as ``config``'s current value of ``key``.

  >>> setting_text(sweep.SweepConfig(), "schemes"), setting_text(sweep.SweepConfig(), "train.epochs")
  ('zeros,normal(stddev=10.0),he_normal', '300')
  """
  owner, name, hint = _field(config, key)
  return _text(getattr(owner, name), hint)


def reconfigure(config: Any, settings: Sequence[str]) -> Any:
  """``config`` (a frozen dataclass) with each ``KEY=VALUE`` of ``settings`` (``--set``) applied in
  order.

  ``KEY`` names a field; dotted (``train.epochs``) a field of a nested config. ``VALUE`` is read by
  the field's type: ``int``, ``float``, ``bool`` (true/false, yes/no, on/off, 1/0), ``str`` (as
  given), ``None`` for an Optional (none/null), a tuple as ``1,2,3`` (split at the commas outside
  parentheses, braces and quotes: ``critical(tanh),normal(stddev=0.1)``) or as JSON
  (``[["adam", 0.004], ["sgd", 0.125]]`` for tuples of tuples). The config's own checks
  (``__post_init__``) run on the result.

  >>> reconfigure(sweep.SweepConfig(), ["seeds=0,1", "train.epochs=5"]).train.epochs
  5

  Raises:
    ValueError: a setting not ``KEY=VALUE``, an unknown key (naming those accepted), a value not of
      the field's type (naming it), or a value the config's checks refuse.
  """
  for setting in settings:
    key, sep, text = setting.partition("=")
    key = key.strip()
    if not sep or not key:
      raise ValueError(f"--set {setting!r}; accepted: KEY=VALUE, e.g. seeds=8")
    owner, name, hint = _field(config, key)
    current = getattr(owner, name)
    if dataclasses.is_dataclass(current):
      raise ValueError(f"--set {key}: {key} is a nested config; set its settings: "
                       + ", ".join(f"{key}.{k}" for k in _settable(current)))
    try:
      value = _parse(text, hint)
    except ValueError:
      raise ValueError(f"--set {key}={text}: {key} takes {_type_text(hint)}, e.g. "
                       f"{key}={_text(current, hint)}") from None
    except TypeError as e:
      raise TypeError(f"--set {key}: {e}") from None
    config = _replaced(config, key.split("."), value)
  return config


def _config_json(config: Any) -> Any:
  """A config dataclass as the JSON ``summary.json`` stores (tuples as lists)."""
  return json.loads(json.dumps(folders.jsonable(dataclasses.asdict(config))))


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

  module = getattr(main, "__module__", "experiment")  # "__main__" under python -m: the file's name
  name = Path(sys.argv[0]).stem if module == "__main__" else module.rsplit(".", 1)[-1]
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
    """The Output of a parsed :func:`parser` command line: ``config`` with its ``--set`` settings
    (:func:`reconfigure`), in ``--out``, else in ``runs/<name>`` (``-tiny`` with ``--tiny``) and,
    when ``--set`` changed the config, ``-<the first 8 hex digits of the SHA-256 of its JSON>``:
    a changed config never shares the unchanged one's folder, and the same settings find their
    own folder again (to resume, or to say the run finished)."""
    changed = reconfigure(config, args.set)
    out = args.out or f"runs/{args.name}{'-tiny' if args.tiny else ''}"
    if args.out is None and changed != config:
      text = json.dumps(_config_json(changed), sort_keys=True)
      out += f"-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
      _say(f"{args.name}: --set changed the config; its run goes to {out}")
    return cls(Path(out), args.name, changed, tiny=args.tiny)

  @classmethod
  def from_argv(cls, doc: str, name: str, full: Any, tiny: Any,
                argv: Sequence[str] | None = None) -> Output:
    """A script's Output from its command line (:func:`parser`): ``full`` or, with ``--tiny``,
    ``tiny`` is its config, with the ``--set`` settings applied. ``argv`` None reads
    ``sys.argv``."""
    args = parser(doc, name, full).parse_args(argv)
    return cls.from_args(args, tiny if args.tiny else full)

  def finished(self) -> bool:
    """Whether the folder holds a finished run of this config: a ``summary.json`` (written last)
    with the same config and ``tiny``. A script then returns at once, saying so; delete
    ``summary.json`` to redraw its tables and figures from the stored stages."""
    path = self.folder / "summary.json"
    if not path.exists():
      return False
    stored = json.loads(path.read_text())
    if stored.get("config") != _config_json(self.config) or stored.get("tiny") != self.tiny:
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
