"""experiments/constant_init_symmetry.py at tiny size: the symmetry, the files, and read-back."""

import importlib
import json

import numpy as np
import pytest
from experiment_checks import read_csv

exp = importlib.import_module("experiments.constant_init_symmetry")

ROUNDING = 1e3
"""Ulps within which entries count as equal up to float32 rounding (measured: <= 300 at full size;
a random init spreads by ~1e7)."""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  folder = tmp_path_factory.mktemp("constant_init_symmetry")
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  stored = np.load(folder / "stages" / "measurements.npz")
  return folder, {k: stored[k] for k in stored.files}


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_constant_init_keeps_hidden_gradients_equal_and_he_does_not(run):
  _, m = run
  cfg = exp.TINY
  features = 64
  const_distinct, he_distinct = m["grad0_distinct"], m["grad1_distinct"]
  # hidden weight matrices: one value each (all entries equal)
  assert np.all(const_distinct[:, 1:-1] == 1)
  assert np.all(m["grad0_spread"][:, 1:-1] == 0)
  # first layer: one value per input feature, the same for every unit
  assert np.all(m["grad0_row_spread"][:, 0] <= ROUNDING) and np.all(const_distinct[:, 0] <= features)
  # last layer: one value per output, the same for every input unit (up to rounding)
  assert np.all(m["grad0_col_spread"][:, -1] <= ROUNDING)
  entries = np.array([a * b for a, b in zip((features, *cfg.widths[:-1]), cfg.widths, strict=True)])
  assert np.all(he_distinct >= entries / 2) and np.all(he_distinct[:, 0] > features)
  assert np.all(m["grad1_spread"] > 1e5)


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_constant_init_units_stay_identical_after_training(run):
  _, m = run
  seeds = len(exp.TINY.seeds)
  assert np.all(m["distinct_units"][:seeds] == 1)
  assert np.all(m["distinct_units"][seeds:] == np.array(exp.TINY.widths[:-1]))


def test_unit_symmetry_counts_exactly_equal_units():
  kernel = np.ones((3, 4), np.float32)
  kernel[0, 3] = np.nextafter(np.float32(1), np.float32(2))
  distinct, spread = exp.unit_symmetry(kernel, np.zeros(4, np.float32))
  assert distinct == 2 and spread == pytest.approx(1.0)
  assert exp.unit_symmetry(np.ones((3, 4)), np.zeros(4)) == (1, 0.0)


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_tables_and_summary_hold_the_stored_numbers(run):
  folder, m = run
  for stem in ("gradient_distinct", "units_after_training", "accuracy_after_training"):
    assert all((folder / f"{stem}.{ext}").exists() for ext in ("md", "tex", "csv"))
  assert all((folder / f"gradient_histograms.{ext}").exists() for ext in ("png", "pdf"))
  schemes = exp.TINY.schemes
  for row in read_csv(folder / "gradient_distinct.csv"):
    s, layer = schemes.index(row["scheme"]), int(row["layer"]) - 1
    assert float(row["grad_distinct_mean"]) == pytest.approx(m[f"grad{s}_distinct"][:, layer].mean())
  seeds = len(exp.TINY.seeds)
  for row in read_csv(folder / "units_after_training.csv"):
    s, layer = schemes.index(row["scheme"]), int(row["layer"]) - 1
    want = m["distinct_units"][s * seeds:(s + 1) * seeds, layer].mean()
    assert float(row["distinct_units_mean"]) == pytest.approx(want)
  for row in read_csv(folder / "accuracy_after_training.csv"):
    s = schemes.index(row["scheme"])
    want = m["metrics"][s * seeds:(s + 1) * seeds, 3].mean()
    assert float(row["test_acc_mean"]) == pytest.approx(want)
  summary = json.loads((folder / "summary.json").read_text())
  assert summary["headline"]["data"] == exp.TINY.data[0]
  assert summary["headline"]["constant_grad_distinct_per_layer"] == m["grad0_distinct"][0].tolist()


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_figure_draws_the_stored_histograms(run):
  _, m = run
  cfg = exp.TINY
  ds, _ = exp.load_data(cfg.data)
  grads = {s: {k.split("_", 1)[1]: v for k, v in m.items() if k.startswith(f"grad{i}_")}
           for i, s in enumerate(cfg.schemes)}
  fig = exp.gradient_figure(cfg, grads, ds)
  for s in range(2):
    for i in range(len(cfg.widths)):
      heights = [p.get_height() for p in fig.axes[s * len(cfg.widths) + i].patches]
      assert np.array_equal(heights, m[f"grad{s}_counts"][i])
      assert m[f"grad{s}_counts"][i].sum() == (64, *cfg.widths[:-1])[i] * cfg.widths[i]


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_second_run_reads_back(run):
  folder, _ = run
  npz = folder / "stages" / "measurements.npz"
  before = npz.stat().st_mtime_ns
  (folder / "summary.json").unlink()  # else main returns at once: the stages must be read back
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  assert npz.stat().st_mtime_ns == before and (folder / "summary.json").exists()
