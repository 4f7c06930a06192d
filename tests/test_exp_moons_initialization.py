"""experiments/moons_initialization.py at tiny size: zeros is chance, He beats zeros seed by seed,
the tutorial's cost and accuracy as the experiment computes them, and tables equal to the records."""

import importlib
import math

import numpy as np
import pytest
from experiment_checks import read_csv

from jaxinit import results

exp = importlib.import_module("experiments.moons_initialization")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  folder = tmp_path_factory.mktemp("moons_initialization")
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  return folder


def _last(folder, stage):
  """The records of each member's last epoch, in member order."""
  rows = results.read_records(folder / "stages" / stage / "records.jsonl")
  last = max(r["epoch"] for r in rows)
  return sorted((r for r in rows if r["epoch"] == last), key=lambda r: r["member"])


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_zeros_is_chance_and_he_beats_zeros_on_the_same_seeds(run):
  rows = _last(run, "tutorial")
  zeros = {r["seed"]: r for r in rows if r["scheme"].startswith("layers(zeros")}
  he = {r["seed"]: r for r in rows if r["scheme"].startswith("layers(he_normal")}
  assert len(zeros) == len(he) == exp.TINY.seeds
  for seed, z in zeros.items():
    assert z["train_acc"] == z["test_acc"] == 0.5  # a balanced set: the constant p = 0.5
    assert z["train_loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert he[seed]["train_acc"] > z["train_acc"] + 0.1 and he[seed]["test_acc"] > z["test_acc"]


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_files_exist(run):
  for stem in ("loss_curves", "decision_boundaries", "tutorial_cost"):
    for ext in ("png", "pdf"):
      assert (run / f"{stem}.{ext}").stat().st_size > 1000
  for stem in ("accuracy", "tutorial_metrics"):
    for ext in ("md", "tex", "csv"):
      assert (run / f"{stem}.{ext}").exists()
  assert (run / "summary.json").exists()


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_accuracy_table_equals_the_records(run):
  table = {(r["setup"], r["scheme"]): r for r in read_csv(run / "accuracy.csv")}
  assert len(table) == 6
  for stage, setup in (("tutorial", "tutorial"), ("default", "jaxinit default")):
    rows = _last(run, stage)
    for scheme in dict.fromkeys(r["scheme"] for r in rows):
      row = table[(setup, scheme)]
      for metric in ("train_acc", "test_acc", "train_loss", "test_loss"):
        values = np.array([r[metric] for r in rows if r["scheme"] == scheme])
        assert float(row[f"{metric}_mean"]) == pytest.approx(values.mean(), rel=1e-9, abs=1e-12)
        assert float(row[f"{metric}_std"]) == pytest.approx(values.std(ddof=1), rel=1e-9, abs=1e-12)
      assert int(row["n"]) == len(values)


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_tutorial_metric_table_equals_the_stored_arrays(run):
  nets = np.load(run / "stages" / "networks_tutorial.npz")
  retrained = np.load(run / "stages" / "tutorial_loss.npz")
  schemes = [r["scheme"] for r in _last(run, "tutorial")]
  table = {(r["trained_with"], r["scheme"]): r for r in read_csv(run / "tutorial_metrics.csv")}
  fields = exp.sweep_fields(nets)
  for scheme in dict.fromkeys(schemes):
    row = table[("cross-entropy (jaxinit)", scheme)]
    sel = np.array([s == scheme for s in schemes])
    for f in exp.TABLE_FIELDS:
      assert float(row[f"{f}_mean"]) == pytest.approx(fields[f][sel].mean(), rel=1e-9, abs=1e-12)
  (row,) = [r for k, r in table.items() if k[0].startswith("tutorial's cost")]
  for f, v in exp.retrained_fields(retrained).items():
    assert float(row[f"{f}_mean"]) == pytest.approx(v.mean(), rel=1e-9, abs=1e-12)
  assert int(row["n"]) == exp.TINY.eps_seeds


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_networks_read_from_the_checkpoint_are_the_trained_ones(run):
  nets = np.load(run / "stages" / "networks_tutorial.npz")
  rows = _last(run, "tutorial")
  for split in ("train", "test"):
    recorded = np.array([r[f"{split}_acc"] for r in rows])
    np.testing.assert_allclose(nets[f"final_{split}_acc"], recorded, atol=1.5e-2)  # <= 1 point
  np.testing.assert_allclose(nets["final_train_bce"], [r["train_loss"] for r in rows], rtol=1e-3,
                             atol=1e-4)


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_the_tutorials_cost_and_accuracy(run):
  nets = np.load(run / "stages" / "networks_tutorial.npz")
  schemes = [r["scheme"] for r in _last(run, "tutorial")]
  zeros = np.array([s.startswith("layers(zeros") for s in schemes])
  # The tutorial's printed zero-init cost is -ln(0.5 + eps), not ln 2: eps sits inside the log.
  np.testing.assert_allclose(nets["init_train_cost"][zeros], 0.6931271807599427, rtol=1e-12)
  assert np.all(nets["final_train_soft_acc"][zeros] == 0.5)
  # No network beats the chord bound; the tutorial's printed x10 pair (cost 4.64, 86%) does.
  bound = np.array([exp.soft_acc_bound(c, exp.TINY.eps) for c in nets["final_train_cost"]])
  assert np.all(nets["final_train_soft_acc"] <= bound + 1e-9)
  assert exp.soft_acc_bound(exp.TUTORIAL_LARGE_COST[-1], 1e-5) < 0.6 < 0.86
  # Every point of a large init is saturated: the cost is the capped one, far below the exact loss.
  large = np.array([s.startswith("layers(normal(stddev=10.0)") for s in schemes])
  assert np.all(nets["init_train_cost"][large] < math.log1p(1e5))
  assert np.all(nets["init_train_bce"][large] > 3 * nets["init_train_cost"][large])


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_retraining_starts_from_the_swept_initial_parameters(run):
  nets = np.load(run / "stages" / "networks_tutorial.npz")
  retrained = np.load(run / "stages" / "tutorial_loss.npz")
  rows = _last(run, "tutorial")
  idx = [k for k, r in enumerate(rows) if r["scheme"].startswith("layers(normal(stddev=10.0)")
         and r["seed"] < exp.TINY.eps_seeds]
  np.testing.assert_allclose(retrained["train_cost"][:, 0], nets["init_train_cost"][idx], rtol=1e-6)
  assert list(retrained["epochs"]) == list(range(0, exp.TINY.epochs + 1, exp.TINY.eval_every))


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_a_second_call_reads_back(run):
  watched = [run / "stages" / "tutorial" / "records.jsonl", run / "stages" / "tutorial_loss.npz",
             run / "loss_curves.png", run / "summary.json"]
  before = [p.stat().st_mtime_ns for p in watched]
  assert exp.main(["--tiny", "--out", str(run)]) == 0
  assert [p.stat().st_mtime_ns for p in watched] == before
