"""End-to-end smoke tests of the research scripts in experiments/, in their tiny modes."""

import importlib.util
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name: str):
  spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module  # dataclasses look their module up there
  spec.loader.exec_module(module)
  return module


def test_deep_plain_networks_tiny_writes_the_summary_and_resumes(tmp_path, capsys):
  script = _load("deep_plain_networks")
  assert script.main(["--tiny", "--out", str(tmp_path)]) == 0
  summary = (tmp_path / "summary.md").read_text()
  record = json.loads((tmp_path / "tanh-depth4" / "run.json").read_text())
  assert record["status"] == "finished"
  # the summary's accuracy cells are the sweep's own table, scheme by scheme
  for row in record["table"]:
    cell = f"| {row['scheme']} | {100 * row['test_acc_mean']:.1f} ± {100 * row['test_acc_std']:.1f} |"
    assert cell in summary, cell
  assert summary.count("| critical(tanh) |") == 2  # accuracy and init time tables
  # a second call keeps the finished run (it is not trained again) and writes the same table
  before = (tmp_path / "tanh-depth4" / "records.jsonl").stat().st_mtime_ns
  assert script.main(["--tiny", "--out", str(tmp_path)]) == 0
  assert (tmp_path / "tanh-depth4" / "records.jsonl").stat().st_mtime_ns == before
  assert (tmp_path / "summary.md").read_text().split("## tanh: init")[0] == summary.split(
      "## tanh: init")[0]
