"""End-to-end tests of the research scripts in experiments/ that have no test module of their own,
and of experiments.run_all, in their tiny modes."""

import dataclasses
import importlib
import json

import numpy as np
import pytest
from experiment_checks import read_csv

from jaxinit import results
from jaxinit.results import provenance


def _check_deep_plain(script, out) -> None:
  """main writes the table, figure and summary from the sweep's own table; a second call reads
  the finished population back (it is not trained again) and writes the same table."""
  assert script.main(["--tiny", "--out", str(out)]) == 0
  stage = out / "stages" / "tanh-depth4"
  record = json.loads((stage / "run.json").read_text())
  assert record["status"] == "finished" and len(record["table"]) == len(script.TINY.schemes)
  table = read_csv(out / "accuracy.csv")
  final = [r for r in results.read_records(stage / "records.jsonl") if r["epoch"] == 1]
  for row in table:
    accs = [r["test_acc"] for r in final if r["scheme"] == row["scheme"]]
    assert float(row["test_acc_mean"]) == pytest.approx(np.mean(accs), abs=1e-12)
    assert (row["activation"], row["depth"]) == ("tanh", "4")
  summary = json.loads((out / "summary.json").read_text())
  assert summary["headline"]["test_acc_mean"]["tanh/depth4/normal(stddev=0.01)"] == 0.5  # chance
  assert summary["headline"]["test_acc_mean"]["tanh/depth4/critical(tanh)"] > 0.75
  assert {"accuracy_vs_depth", } == set(summary["figures"])
  assert (out / "accuracy_vs_depth.png").stat().st_size > 0
  # the figure's points are the table's means (in percent)
  fig = script._figure([{"activation": "tanh", "depth": 4, **r} for r in record["table"]],
                       script.TINY)
  plotted = sorted(float(c.lines[0].get_ydata()[0]) for c in fig.axes[0].containers)
  assert plotted == pytest.approx(sorted(100 * r["test_acc_mean"] for r in record["table"]))
  before = (stage / "records.jsonl").stat().st_mtime_ns
  md = (out / "accuracy.md").read_text()
  assert script.main(["--tiny", "--out", str(out)]) == 0
  assert (stage / "records.jsonl").stat().st_mtime_ns == before
  assert (out / "accuracy.md").read_text() == md


def test_deep_plain_networks_tiny_writes_its_outputs_and_resumes(tmp_path, monkeypatch):
  """--tiny with two of its four schemes (critical and N(0, 0.01)): the script's own code (sweep,
  table, figure, init timing, resume) in a few seconds. LSUV and MetaInit in a population are
  covered by test_schemes and test_sweep; the full --tiny run is the slow test below."""
  script = importlib.import_module("experiments.deep_plain_networks")
  monkeypatch.setattr(script, "TINY", dataclasses.replace(
      script.TINY, schemes=("critical({act})", "normal(stddev=0.01)")))
  _check_deep_plain(script, tmp_path)


@pytest.mark.slow
def test_deep_plain_networks_tiny_with_every_scheme(tmp_path):
  """The documented --tiny run, unchanged: critical, LSUV, MetaInit and N(0, 0.01)."""
  _check_deep_plain(importlib.import_module("experiments.deep_plain_networks"), tmp_path)


def test_run_all_refuses_unknown_names_publishing_tiny_runs_and_a_dirty_tree(capsys, monkeypatch):
  run_all = importlib.import_module("experiments.run_all")
  with pytest.raises(SystemExit):
    run_all.main(["--only", "moons,nope"])
  assert "unknown experiment(s) moons, nope" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    run_all.main(["--tiny", "--publish"])
  with pytest.raises(SystemExit):
    run_all.main(["--jobs", "0"])
  assert "--jobs 0: accepted: 1 or more" in capsys.readouterr().err
  monkeypatch.setattr(provenance, "source_state", lambda: ("ab" * 20, True))
  with pytest.raises(SystemExit) as stop:
    run_all.main(["--only", "moons_initialization", "--publish", "--out", "/nonexistent"])
  assert stop.value.code == 2 and "--publish needs a clean git checkout" in capsys.readouterr().err
  # every listed experiment is a module with the conventions' entry points
  for name in run_all.EXPERIMENTS:
    module = importlib.import_module(f"experiments.{name}")
    assert name == module.NAME and callable(module.main)
    assert dataclasses.is_dataclass(module.TINY) and module.TINY.__dataclass_params__.frozen
