"""jaxinit.studies.gallery: resumable stages, paper outputs, publishing; and the std_ci95 table cells."""

import dataclasses
import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxinit import results
from jaxinit.engine import train as tr
from jaxinit.results import tables
from jaxinit.studies import gallery, sweep


@dataclasses.dataclass(frozen=True)
class _Config:
  seeds: int = 2


def _output(tmp_path, tiny=True):
  args = gallery.parser("A study.\n\nMore text.", "demo").parse_args(
      ["--tiny", "--out", str(tmp_path / "demo")] if tiny else [])
  return gallery.Output.from_args(args, _Config())


def test_parser_defaults_the_folder_from_the_name(monkeypatch, tmp_path):
  monkeypatch.chdir(tmp_path)
  p = gallery.parser("A study.", "demo")
  assert gallery.Output.from_args(p.parse_args([]), _Config()).folder.as_posix() == "runs/demo"
  assert gallery.Output.from_args(p.parse_args(["--tiny"]), _Config()).folder.as_posix() == (
      "runs/demo-tiny")
  full, tiny = _Config(seeds=16), _Config(seeds=2)
  out = gallery.Output.from_argv("A study.", "demo", full, tiny, ["--tiny"])
  assert out.config is tiny and out.tiny and out.folder.as_posix() == "runs/demo-tiny"
  assert gallery.Output.from_argv("A study.", "demo", full, tiny, []).config is full


def test_cached_reads_back_and_recomputes_when_the_key_changes(tmp_path):
  out = _output(tmp_path)
  calls = []
  compute = lambda: calls.append(1) or {"y": np.arange(3.0)}
  first = out.cached("stage", _Config(), compute)
  again = out.cached("stage", _Config(), compute)
  assert len(calls) == 1 and np.array_equal(first["y"], again["y"]) and set(again) == {"y"}
  out.cached("stage", _Config(seeds=3), compute)
  assert len(calls) == 2
  assert not list(out.stage("x").parent.glob(".*.tmp"))


def test_sweep_stage_reads_a_finished_run_back_and_refuses_another_config(tmp_path):
  out = _output(tmp_path)
  config = sweep.SweepConfig(seeds=(0, 1), schemes=("zeros", "he_normal"),
                             train=tr.TrainConfig(epochs=2, batch_size=None))
  first = out.sweep("s", config, quiet=True, figures=False)
  records = first.folder / "records.jsonl"
  before = records.stat().st_mtime_ns
  again = out.sweep("s", config, quiet=True)
  assert records.stat().st_mtime_ns == before and again.table == first.table
  assert again.markdown == first.markdown
  with pytest.raises(ValueError, match="seeds"):
    out.sweep("s", dataclasses.replace(config, seeds=(0, 1, 2)), quiet=True)


def test_table_figure_summary_and_publish(tmp_path):
  out = _output(tmp_path)
  rows = results.summarize(
      [{"member": k, "epoch": 1, "scheme": "a", "diverged": False, "test_acc": a}
       for k, a in enumerate([0.9, 0.8, 0.7])], metrics=("test_acc",))
  md = out.table(rows, "acc", by=("scheme",), metrics=("test_acc",))
  # mean, std and the Student-t 95% half-width (t_{0.975, 2} = 4.303) of 0.9, 0.8, 0.7, in percent
  assert "| a | 80.0 ± 10.0 (24.8) | 0/3 |" in md and "n = 3 members" in md
  assert "test_acc (%) mean ± std (95% CI)" in md
  assert "80.0 $\\pm$ 10.0 (24.8)" in (out.folder / "acc.tex").read_text()
  fig = Figure()
  fig.add_subplot().plot([0, 1], [1, 2])
  paths = out.figure(fig, "line", "One line; no band.")
  assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 0 for p in paths)
  assert any(t.get_text() == "One line; no band." for t in fig.texts)
  (out.stage("s") / "records.jsonl").parent.mkdir(parents=True)
  (out.stage("s") / "records.jsonl").write_text("{}\n")
  with pytest.raises(ValueError, match=r"summary\.json"):
    gallery.publish(out.folder, tmp_path / "published")
  out.summary({"acc": 0.8})
  summary = json.loads((out.folder / "summary.json").read_text())
  assert summary["headline"] == {"acc": 0.8} and summary["config"] == {"seeds": 2}
  assert summary["figures"] == {"line": "One line; no band."} and "acc" in summary["tables"]
  assert summary["experiment"] == "demo" and summary["tiny"] is True
  # a rerun that computes nothing keeps the first run's wall time; one that computes replaces it
  again = _output(tmp_path)
  again.summary({"acc": 0.8})
  assert json.loads((out.folder / "summary.json").read_text())["wall_s"] == summary["wall_s"]
  again.cached("x", {}, lambda: {"y": np.zeros(1)})
  again.summary({"acc": 0.8})
  rerun = json.loads((out.folder / "summary.json").read_text())
  assert rerun["wall_s"] != summary["wall_s"] and rerun["computed"] == ["x"]
  # a finished run of this config is known by its summary.json; another config or size is not
  assert _output(tmp_path).finished()
  other = _output(tmp_path)
  other.config = _Config(seeds=3)
  assert not other.finished()
  for env, refused in (({"git_commit": "ab" * 20, "git_dirty": True}, "uncommitted changes"),
                       ({"git_commit": None, "git_dirty": None}, "outside git")):
    _set_environment(out.folder, env)
    with pytest.raises(ValueError, match=refused):
      gallery.publish(out.folder, tmp_path / "published")
  _set_environment(out.folder, {"git_commit": "ab" * 20, "git_dirty": False})
  copied = gallery.publish(out.folder, tmp_path / "published")
  assert sorted(p.name for p in copied) == ["acc.csv", "acc.md", "acc.tex", "line.pdf", "line.png",
                                            "summary.json"]


def _set_environment(folder, env):
  """Gives a summary.json the git state ``env`` (the tests run in clean and dirty checkouts)."""
  summary = json.loads((folder / "summary.json").read_text())
  summary["environment"].update(env)
  (folder / "summary.json").write_text(json.dumps(summary))


def test_std_ci95_cell_without_a_spread_shows_the_mean_alone():
  row = {"scheme": "a", "epoch": 1, "n": 1, "n_diverged": 0, "n_total": 1, "x_mean": 0.5,
         "x_std": float("nan"), "x_ci95": float("nan")}
  assert "| a | 0.500 | 0/1 |" in tables.to_markdown([row], spread="std_ci95")
