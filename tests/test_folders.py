"""The output-folder rules shared by sweep and diagnose, and stop signals (jaxinit.results.folders,
jaxinit.engine.signals)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from jaxinit.engine import signals
from jaxinit.results import folders


@pytest.mark.parametrize("name", ["../x", "..", ".", "", "a/b", "/abs", "a\\b"])
def test_resolve_refuses_names_that_leave_out(name: str) -> None:
  with pytest.raises(ValueError, match="is not a folder name inside --out"):
    folders.resolve("runs", name)


def test_resolve_keeps_plain_names() -> None:
  assert folders.resolve("runs", "my-sweep.v2") == Path("runs/my-sweep.v2")


def _run_folder(path: Path, config: dict, finished: bool = True) -> Path:
  path.mkdir(parents=True)
  (path / "config.json").write_text(json.dumps(config))
  if finished:
    (path / "records.jsonl").write_text("{}\n")
  return path


def test_rules_start_resume_overwrite_refuse(tmp_path: Path) -> None:
  kw = {"empty_when_missing": ("records.jsonl", "checkpoint.msgpack")}
  assert folders.prepare(tmp_path / "new", "config.json", **kw) is False  # absent: start
  run = _run_folder(tmp_path / "run", {"a": 1})
  with pytest.raises(ValueError, match="already holds a run; pass --resume"):
    folders.prepare(run, "config.json", **kw)
  assert folders.prepare(run, "config.json", config={"a": 1}, resume=True, **kw) is True
  with pytest.raises(ValueError, match=r"different config \(differs in a\)"):
    folders.prepare(run, "config.json", config={"a": 2}, resume=True, **kw)
  with pytest.raises(ValueError, match="exclude each other"):
    folders.prepare(run, "config.json", resume=True, overwrite=True, **kw)
  assert run.exists()
  assert folders.prepare(run, "config.json", overwrite=True, **kw) is False
  assert not run.exists()  # cleared for the new run


def test_overwrite_never_deletes_a_folder_that_is_not_ours(tmp_path: Path) -> None:
  mine = tmp_path / "mine"
  mine.mkdir()
  (mine / "thesis.tex").write_text("precious")
  with pytest.raises(ValueError, match="not a jaxinit run folder"):
    folders.prepare(mine, "config.json", overwrite=True)
  with pytest.raises(ValueError, match="cannot resume"):
    folders.prepare(mine, "config.json", resume=True)
  assert (mine / "thesis.tex").read_text() == "precious"


def test_a_run_that_finished_no_epoch_is_started_afresh(tmp_path: Path) -> None:
  run = _run_folder(tmp_path / "run", {"a": 1}, finished=False)
  assert folders.prepare(run, "config.json", empty_when_missing=("records.jsonl",)) is False
  assert not run.exists()


def test_diagnostics_folders_say_not_empty(tmp_path: Path) -> None:
  (tmp_path / "d").mkdir()
  (tmp_path / "d" / "diagnostics.json").write_text("{}")
  with pytest.raises(ValueError, match="is not empty; pass --overwrite"):
    folders.prepare(tmp_path / "d", "diagnostics.json", what="diagnostics")


def _deliver(signum: int, arrived: Callable[[], bool] = lambda: False) -> None:
  """Sends ``signum`` to this process and waits (up to 5 s) for Python to run its handler: it runs
  in the main thread at the next check, not always before ``os.kill`` returns (it once did not,
  under pytest-xdist on a loaded machine)."""
  os.kill(os.getpid(), signum)
  deadline = time.monotonic() + 5
  while not arrived() and time.monotonic() < deadline:
    time.sleep(0.01)


def test_first_signal_is_a_request_and_the_second_stops_at_once() -> None:
  # A worker process may have inherited SIGINT as ignored, which stop_requests leaves alone (see
  # the next test): start from Python's own SIGINT handler, as an interactive run has.
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    with signals.stop_requests() as stop:
      assert not stop
      _deliver(signal.SIGTERM, lambda: bool(stop))
      assert stop.signum == signal.SIGTERM  # the process goes on
      with pytest.raises(signals.Interrupted) as info:
        stop.check()
      assert info.value.exit_code == 143
      with pytest.raises(signals.Interrupted):
        _deliver(signal.SIGINT)  # the second: at once (the handler raises)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
  finally:
    signal.signal(signal.SIGINT, previous)


def test_an_ignored_sigint_stays_ignored() -> None:
  previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
  try:
    with signals.stop_requests() as stop:
      os.kill(os.getpid(), signal.SIGINT)
      assert not stop
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
  finally:
    signal.signal(signal.SIGINT, previous)


def test_resume_compares_the_stored_config_with_today_s_defaults(tmp_path) -> None:
  """A run folder written before a setting existed (no normalize, no eval_every) resumes: the
  stored config gets today's defaults, which reproduce the old behaviour; a real difference is
  still refused."""
  from jaxinit.studies import sweep

  config = sweep.SweepConfig(seeds=(0, 1))
  old = json.loads(json.dumps(config.to_json()))
  del old["normalize"], old["train"]["eval_every"]
  folder = tmp_path / "run"
  folder.mkdir()
  (folder / "config.json").write_text(json.dumps(old))
  (folder / "records.jsonl").write_text("")
  assert folders.prepare(folder, "config.json", config=config.to_json(), resume=True,
                         canonical=sweep.stored_config)
  with pytest.raises(ValueError, match="differs in normalize, train"):  # without canonical
    folders.prepare(folder, "config.json", config=config.to_json(), resume=True)
  other = sweep.SweepConfig(seeds=(0, 1, 2))
  with pytest.raises(ValueError, match="differs in seeds"):
    folders.prepare(folder, "config.json", config=other.to_json(), resume=True,
                    canonical=sweep.stored_config)
