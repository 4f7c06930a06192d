"""End-to-end smoke tests of the research scripts in experiments/, in their tiny modes."""

import dataclasses
import importlib.util
import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name: str):
  spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module  # dataclasses look their module up there
  spec.loader.exec_module(module)
  return module


def _check_summary_and_resume(script, out: pathlib.Path) -> None:
  """main writes the run and summary.md; a second call keeps the finished run and its table."""
  assert script.main(["--tiny", "--out", str(out)]) == 0
  summary = (out / "summary.md").read_text()
  record = json.loads((out / "tanh-depth4" / "run.json").read_text())
  assert record["status"] == "finished"
  # the summary's accuracy cells are the sweep's own table, scheme by scheme
  assert len(record["table"]) == len(script.TINY.schemes)
  for row in record["table"]:
    cell = f"| {row['scheme']} | {100 * row['test_acc_mean']:.1f} ± {100 * row['test_acc_std']:.1f} |"
    assert cell in summary, cell
  assert summary.count("| critical(tanh) |") == 2  # accuracy and init time tables
  # a second call keeps the finished run (it is not trained again) and writes the same table
  before = (out / "tanh-depth4" / "records.jsonl").stat().st_mtime_ns
  assert script.main(["--tiny", "--out", str(out)]) == 0
  assert (out / "tanh-depth4" / "records.jsonl").stat().st_mtime_ns == before
  assert (out / "summary.md").read_text().split("## tanh: init")[0] == summary.split(
      "## tanh: init")[0]


def test_deep_plain_networks_tiny_writes_the_summary_and_resumes(tmp_path, monkeypatch):
  """--tiny with two of its four schemes (critical and N(0, 0.01)): the script's own code (sweep,
  summary, init timing, resume) in a few seconds. LSUV and MetaInit in a population are covered by
  test_schemes and test_sweep; the full --tiny run is the slow test below."""
  script = _load("deep_plain_networks")
  monkeypatch.setattr(script, "TINY", dataclasses.replace(
      script.TINY, schemes=("critical({act})", "normal(stddev=0.01)")))
  _check_summary_and_resume(script, tmp_path)


@pytest.mark.slow
def test_deep_plain_networks_tiny_with_every_scheme(tmp_path):
  """The documented --tiny run, unchanged: critical, LSUV, MetaInit and N(0, 0.01)."""
  _check_summary_and_resume(_load("deep_plain_networks"), tmp_path)
