"""experiments/mnist_schemes.py at --tiny size (a 1024/512-image MNIST subset, 3 seeds, 2 epochs):
zeros predicts one class for every image, the tables, curves and paired tests equal the records,
and a second call reads everything back."""

import importlib
import json
import math
import pathlib

import numpy as np
import pytest
import scipy.stats
from experiment_checks import needs_mnist, read_csv

from jaxinit import data, results

RANDOM_UNIFORM = "uniform(low=-0.05, high=0.05)"
"""Keras' random_uniform by its canonical name: the comma checks the CSV files' quoting."""
pytestmark = needs_mnist


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  script = importlib.import_module("experiments.mnist_schemes")
  out = tmp_path_factory.mktemp("mnist_schemes")
  assert script.main(["--tiny", "--out", str(out)]) == 0
  return script, out


def _records(out: pathlib.Path) -> dict[str, list[dict]]:
  """The records per optimizer, read straight from the stage folders (the tiny run has Adam only)."""
  return {"adam": results.read_records(out / "stages" / "adam" / "records.jsonl")}


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_files_exist(run):
  _, out = run
  for name in ("accuracy.md", "accuracy.tex", "accuracy.csv", "paired.md", "paired.csv", "zeros.md",
               "text_comparison.md", "text_comparison.csv",
               "zeros.json", "learning_curves.png", "learning_curves.pdf", "learning_curves.csv",
               "final_accuracy.png", "final_accuracy.pdf", "summary.json"):
    assert (out / name).stat().st_size > 0, name


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_zeros_predicts_one_class_and_scores_its_share(run):
  """The zeros network's hidden weights stay exactly 0, so it outputs softmax(b_out) for every
  image: its accuracy is the share of the class argmax(b_out) in each split, counted here from the
  subset's own label files."""
  script, out = run
  z = json.loads((out / "zeros.json").read_text())
  folder = out / "stages" / "data" / "mnist"
  y_train = data.read_idx(folder / "train-labels-idx1-ubyte")
  y_test = data.read_idx(folder / "t10k-labels-idx1-ubyte")
  assert (len(y_train), len(y_test)) == script.TINY.subset
  rows = _records(out)
  assert "momentum" not in z
  for opt in ("adam",):
    assert z[opt]["max_abs_weight"] == 0.0
    last = sorted((r for r in rows[opt] if r["scheme"] == "zeros" and r["epoch"] == 2),
                  key=lambda r: r["seed"])
    assert len(last) == script.TINY.seeds
    for r, c in zip(last, z[opt]["predicted_class"], strict=True):
      assert r["test_acc"] == pytest.approx(np.mean(y_test == c), abs=1e-6)
      assert r["train_acc"] == pytest.approx(np.mean(y_train == c), abs=1e-6)
    # the output bias moves towards the log class frequencies of the training labels
    freq = np.bincount(y_train, minlength=10) / len(y_train)
    assert np.corrcoef(z[opt]["softmax_bias_mean"], freq)[0, 1] > 0.8
  # and the trained networks are far above it
  table = {(r["optimizer"], r["scheme"]): r for r in read_csv(out / "accuracy.csv")}
  assert float(table[("adam", "he_truncated_normal")]["test_acc_mean"]) > 0.5
  assert float(table[("adam", "zeros")]["test_acc_mean"]) < 0.2


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_accuracy_table_equals_the_records(run):
  _, out = run
  table = {(r["optimizer"], r["scheme"]): r for r in read_csv(out / "accuracy.csv")}
  n = 0
  for opt, rows in _records(out).items():
    for scheme in {r["scheme"] for r in rows}:
      acc = [r["test_acc"] for r in rows if r["scheme"] == scheme and r["epoch"] == 2]
      row = table[(opt, scheme)]
      assert float(row["test_acc_mean"]) == pytest.approx(np.mean(acc), rel=1e-12)
      assert float(row["test_acc_std"]) == pytest.approx(np.std(acc, ddof=1), rel=1e-9, abs=1e-15)
      assert int(row["n"]) == len(acc)
      n += 1
  assert n == len(table) == 3


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_learning_curves_equal_the_records(run):
  _, out = run
  rows = _records(out)
  curve = read_csv(out / "learning_curves.csv")
  assert len(curve) == 3 * 2
  for c in curve:
    acc = [r["test_acc"] for r in rows[c["optimizer"]]
           if r["scheme"] == c["scheme"] and r["epoch"] == int(c["epoch"])]
    assert float(c["test_acc_mean"]) == pytest.approx(np.mean(acc), rel=1e-12)
    assert float(c["test_acc_std"]) == pytest.approx(np.std(acc, ddof=1), rel=1e-9, abs=1e-15)


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_text_comparison_equals_the_records(run):
  script, out = run
  rows = _records(out)["adam"]
  comparison = read_csv(out / "text_comparison.csv")
  assert {c["scheme"] for c in comparison} == {"zeros", RANDOM_UNIFORM, "he_truncated_normal"}
  for c in comparison:
    acc = np.array([r["test_acc"] for r in rows
                    if r["scheme"] == c["scheme"] and r["epoch"] == int(c["epoch"])])
    assert float(c["text"]) == script.text_val_acc()[c["scheme"]][int(c["epoch"]) - 1]
    assert float(c["mean"]) == pytest.approx(acc.mean(), rel=1e-12)
    assert float(c["share_below_text"]) == pytest.approx(np.mean(acc < float(c["text"])))


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_paired_tests_recomputed_from_the_records(run):
  """Each scheme minus the reference on the same seeds: scipy's paired t-test on the records."""
  script, out = run
  rows = _records(out)
  paired = read_csv(out / "paired.csv")
  assert {(p["optimizer"], p["scheme"]) for p in paired} == {("adam", "zeros"),
                                                              ("adam", RANDOM_UNIFORM)}
  for p in paired:
    acc = {s: [r["test_acc"] for r in sorted(rows[p["optimizer"]], key=lambda r: r["seed"])
               if r["scheme"] == s and r["epoch"] == 2] for s in (p["scheme"], p["reference"])}
    a, b = np.array(acc[p["scheme"]]), np.array(acc[p["reference"]])
    ref = scipy.stats.ttest_rel(a, b)
    assert float(p["mean"]) == pytest.approx(np.mean(a - b), rel=1e-12)
    assert float(p["t"]) == pytest.approx(ref.statistic, rel=1e-9)
    assert float(p["p_t"]) == pytest.approx(ref.pvalue, rel=1e-6)
    half = scipy.stats.t.ppf(0.975, len(a) - 1) * scipy.stats.sem(a - b)
    assert float(p["ci95_high"]) == pytest.approx(np.mean(a - b) + half, rel=1e-9)
    assert int(p["wins"]) == int(np.sum(a > b))
  p_t = np.array([float(p["p_t"]) for p in paired])  # Holm over the table's tests, by definition
  m, order = len(p_t), np.argsort(p_t)
  holm = np.empty(m)
  holm[order] = np.minimum(1, np.maximum.accumulate((m - np.arange(m)) * p_t[order]))
  np.testing.assert_allclose([float(p["p_t_holm"]) for p in paired], holm, rtol=1e-12)
  zeros = next(p for p in paired if p["scheme"] == "zeros" and p["optimizer"] == "adam")
  assert float(zeros["ci95_high"]) < 0  # zeros is below the reference on every seed
  assert float(zeros["p_sign_flip"]) == pytest.approx(2 / 2 ** script.TINY.seeds)


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_second_call_reads_back(run):
  script, out = run
  records = out / "stages" / "adam" / "records.jsonl"
  subset = out / "stages" / "data" / "mnist" / "train-images-idx3-ubyte"
  before = records.stat().st_mtime_ns, subset.stat().st_mtime_ns
  headline = json.loads((out / "summary.json").read_text())["headline"]
  assert script.main(["--tiny", "--out", str(out)]) == 0
  assert (records.stat().st_mtime_ns, subset.stat().st_mtime_ns) == before
  again = json.loads((out / "summary.json").read_text())["headline"]
  assert again == headline and math.isfinite(again["adam_reference_test_acc_mean"])
