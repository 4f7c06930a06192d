"""The trainability phase diagram at tiny size: networks on the critical line train, networks deep in
the ordered phase do not; the table, figure and summary hold the stored numbers; the theory's edge
of chaos is Schoenholz et al.'s; a second run reads back."""

import importlib
import json

import numpy as np
import pytest
from experiment_checks import needs_mnist, read_csv

exp = importlib.import_module("experiments.trainability_phase_diagram")
pytestmark = needs_mnist


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  out = tmp_path_factory.mktemp("tpd")
  assert exp.main(["--tiny", "--out", str(out)]) == 0
  return out


def _stored(out, depth):
  with np.load(out / "stages" / f"depth{depth}.npz") as f:
    return {k: f[k] for k in f.files}


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_critical_line_trains_better_than_the_ordered_phase(run):
  cfg = exp.TINY
  r = _stored(run, cfg.depths[0])
  test_acc = r["metrics"][:, exp.tr.METRICS.index("test_acc")]
  ordered = test_acc[np.isclose(r["sigma_w2"], 0.25)]
  critical = test_acc[np.isclose(r["sigma_w2"], 1.75)]
  assert len(ordered) == len(critical) == cfg.seeds
  assert ordered.max() < 0.16  # chance is 10%: nothing learnt
  assert critical.min() > ordered.max() + 0.08


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_one_program_per_depth_and_the_members(run):
  cfg = exp.TINY
  r = _stored(run, cfg.depths[0])
  assert sorted(set(np.round(r["sigma_w2"], 6))) == sorted(cfg.sigma_w2)
  assert len(r["seed"]) == len(cfg.sigma_w2) * cfg.seeds
  summary = json.loads((run / "summary.json").read_text())["headline"]
  assert summary["networks_trained"] == len(cfg.sigma_w2) * cfg.seeds * len(cfg.depths)
  assert summary["compiled_programs"] == int(r["compilations"]) > 0
  assert "verified: mnist" in summary["data"]


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_theory_edge_of_chaos(run):
  """sigma_b^2 = 0.05: the edge of chaos at sigma_w^2 ~ 1.76 (Schoenholz et al. 2017, Fig. 1)."""
  headline = json.loads((run / "summary.json").read_text())["headline"]
  assert headline["critical_sigma_w2"] == pytest.approx(1.76, abs=0.01)
  assert exp.critical_sigma_w2(0.05) == pytest.approx(1.76, abs=0.01)
  six_xi = headline["six_xi_c"]
  assert six_xi["1.75"] > 20 * six_xi["0.25"] > 0  # the depth scale diverges at the edge


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_outputs_hold_the_stored_numbers(run):
  cfg = exp.TINY
  assert (run / "phase_diagram.png").stat().st_size > 0 and (run / "phase_diagram.pdf").exists()
  r = _stored(run, cfg.depths[0])
  test_acc = r["metrics"][:, exp.tr.METRICS.index("test_acc")]
  rows = read_csv(run / "accuracy.csv")
  assert len(rows) == len(cfg.sigma_w2) * len(cfg.depths)
  for row in rows:
    mine = test_acc[np.isclose(r["sigma_w2"], float(row["sigma_w2"]))]
    assert float(row["test_acc_mean"]) == pytest.approx(mine.mean(), abs=1e-6)
  grid = json.loads((run / "summary.json").read_text())["headline"]["accuracy_grid_percent"]
  means = [round(100 * test_acc[np.isclose(r["sigma_w2"], s)].mean(), 1) for s in cfg.sigma_w2]
  assert grid[str(cfg.depths[0])] == means


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_second_run_reads_back(run, capsys, monkeypatch):
  def fail(*args, **kwargs):
    raise AssertionError("retrained a finished depth")
  monkeypatch.setattr(exp, "train_depth", fail)
  assert exp.main(["--tiny", "--out", str(run)]) == 0
  assert "computed earlier" in capsys.readouterr().err
