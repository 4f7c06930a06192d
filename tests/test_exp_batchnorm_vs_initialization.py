"""experiments/batchnorm_vs_initialization.py at tiny size (two moons): BatchNorm narrows the spread
of accuracy across init scales; the table, figure and summary hold the records' numbers."""

import csv
import importlib
import json

import numpy as np
import pytest

from jaxinit.results import records

exp = importlib.import_module("experiments.batchnorm_vs_initialization")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  folder = tmp_path_factory.mktemp("batchnorm_vs_initialization")
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  return folder, json.loads((folder / "summary.json").read_text())["headline"]


def _accuracy(folder, arm):
  rows = records.read_records(folder / "stages" / f"batch_norm_{arm}" / "records.jsonl")
  return exp.accuracy_by_scale(rows, exp.TINY.scales, exp.TINY.seeds, exp.TINY.chance)


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_batchnorm_narrows_the_spread_across_scales(run):
  folder, headline = run
  without, with_bn = (_accuracy(folder, arm).mean(axis=1) for arm in ("no", "yes"))
  # measured at this size: 0.43 without, 0.03 with; the gap is wide
  assert np.ptp(with_bn) < 0.5 * np.ptp(without)
  assert np.ptp(without) > 0.2
  assert headline["test_acc_range_without_bn"] == pytest.approx(np.ptp(without))
  assert headline["test_acc_range_with_bn"] == pytest.approx(np.ptp(with_bn))


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_table_holds_the_records(run):
  folder, _ = run
  assert all((folder / f"accuracy.{ext}").exists() for ext in ("md", "tex", "csv"))
  assert all((folder / f"accuracy_vs_scale.{ext}").exists() for ext in ("png", "pdf"))
  with open(folder / "accuracy.csv") as f:
    table = list(csv.DictReader(f))
  assert len(table) == 2 * len(exp.TINY.scales)
  for row in table:
    acc = _accuracy(folder, row["batch_norm"])[exp.TINY.scales.index(float(row["scale"]))]
    assert float(row["test_acc_mean"]) == pytest.approx(acc.mean())
    assert float(row["test_acc_std"]) == pytest.approx(acc.std(ddof=1))


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_figure_draws_the_record_means(run):
  folder, _ = run
  acc = {bn: _accuracy(folder, exp.BN_LABELS[bn]) for bn in (False, True)}
  fig = exp.figure(exp.TINY, acc, "tiny")
  means = [line.get_ydata() for line in fig.axes[0].lines if line.get_marker() == "o"]
  assert np.allclose(means[0], 100 * acc[False].mean(axis=1))
  assert np.allclose(means[1], 100 * acc[True].mean(axis=1))
  assert fig.axes[0].get_xscale() == "log"


def test_diverged_member_counts_at_chance():
  rows = [{"member": 0, "seed": 0, "scale": 1.0, "epoch": 1, "test_acc": 0.9, "diverged": False},
          {"member": 1, "seed": 1, "scale": 1.0, "epoch": 1, "test_acc": None, "diverged": True}]
  assert exp.accuracy_by_scale(rows, (1.0,), (0, 1), 0.1).tolist() == [[0.9, 0.1]]


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_second_run_reads_back(run):
  folder, headline = run
  stored = folder / "stages" / "batch_norm_yes" / "records.jsonl"
  before = stored.stat().st_mtime_ns
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  assert stored.stat().st_mtime_ns == before
  assert json.loads((folder / "summary.json").read_text())["headline"] == headline
