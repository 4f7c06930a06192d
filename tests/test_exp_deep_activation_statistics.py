"""End-to-end test of experiments/deep_activation_statistics.py at its tiny size."""

from __future__ import annotations

import csv
import importlib
import math
import os

import jax
import numpy as np
import pytest

from jaxinit import data
from jaxinit.nets import models
from jaxinit.studies import gallery

exp = importlib.import_module("experiments.deep_activation_statistics")
CFG = exp.TINY
SMALL = "tanh + N(0, 0.01)"
XAVIER = "tanh + Xavier N(0, 1/fan_in)"
DATA = CFG.datasets[0]
RATIO_TOLERANCE = 0.15
"""Relative tolerance on the per-layer shrink ratio of the activation std at width 32: a layer's
pooled variance fluctuates by about sqrt(2 / width) over networks (~25% at width 32, ~12% in the
std's ratio for one network); the ratio of seed-averaged stds measured 0.1% to 4% from theory."""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  folder = tmp_path_factory.mktemp("das")
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  return folder


def _read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def _found(folder):
  out = gallery.Output(folder, exp.NAME, CFG, tiny=True)
  return exp.statistics(out, CFG)


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_small_normal_tanh_std_shrinks_by_the_theory_ratio(run):
  found = _found(run)
  small, xavier = found[(DATA, False, SMALL)], found[(DATA, False, XAVIER)]
  std_L = small["act_std_SL"].mean(axis=0)
  measured, predicted = std_L[1:] / std_L[:-1], small["theory_L"][1:] / small["theory_L"][:-1]
  # N(0, 0.01) at width 32: C_W = 32e-4, nearly linear, so the std shrinks ~sqrt(C_W) per layer
  np.testing.assert_allclose(predicted, math.sqrt(CFG.width * 1e-4), rtol=0.02)
  np.testing.assert_allclose(measured, predicted, rtol=RATIO_TOLERANCE)
  # the qualitative result: collapse under N(0, 0.01), a kept spread under Xavier
  assert std_L[-1] < 1e-4
  assert xavier["act_std_SL"][:, -1].min() > 0.25
  np.testing.assert_allclose(xavier["act_std_SL"].mean(axis=0), xavier["theory_L"], rtol=0.1)


def test_batchnorm_theory_is_the_closed_form_relu_recursion():
  cfg = models.ModelConfig(widths=(16, 16, 10), activation="relu", batch_norm=True)
  x = data.gaussian(dim=8, n=64).x_train
  std = exp.batchnorm_theory("relu", "normal(stddev=0.01)", cfg, x)
  # BatchNorm maps a unit of batch variance v to variance r = v / (v + eps); Var relu(N(0, r)) =
  # r (1/2 - 1/(2 pi)); the next layer's v is C_W = fan_in * 1e-4 times that
  var_h, expected = float(np.var(x.astype(np.float64), axis=0).mean()), []
  for fan_in in (8, 16):
    v = fan_in * 1e-4 * var_h
    var_h = v / (v + exp.BN_EPS) * (0.5 - 0.5 / math.pi)
    expected.append(math.sqrt(var_h))
  np.testing.assert_allclose(std, expected, rtol=1e-5)
  assert std[0] < 0.995 * math.sqrt(0.5 - 0.5 / math.pi)  # eps matters at these small variances


@pytest.mark.slow  # ~3 s of compiling a BatchNorm model: past the fast suite's budget
def test_precise_batchnorm_reproduces_the_train_mode_loss():
  cfg = models.ModelConfig(widths=(16, 16, 10), activation="tanh", batch_norm=True)
  ds = data.gaussian(dim=8, n=64, n_test=32)
  model = models.build(cfg)
  variables = jax.jit(model.init)(jax.random.key(0), ds.x_train[:2])
  # running statistics unlike the batch's, as after a short run
  variables["batch_stats"] = jax.tree.map(lambda a: a + 0.5, variables["batch_stats"])
  got = exp.precise_batchnorm_metrics(cfg, jax.tree.map(lambda a: a[None], variables), ds.x_train, ds)

  @jax.jit
  def losses(variables):
    train_mode, _ = model.apply(variables, ds.x_train, train=True, mutable=["batch_stats"])
    return [np.mean(models.per_example_loss(z, ds.y_train)[0])
            for z in (train_mode, model.apply(variables, ds.x_train))]

  train_mode, stale = map(float, losses(variables))
  assert got[0, 0] == pytest.approx(train_mode, rel=1e-5)
  assert abs(stale - train_mode) > 1e-3  # the running statistics alone would not give it


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_files_exist(run):
  for stem in ("depth_profiles", f"activation_hist_{DATA.split('(')[0]}"):
    for ext in ("png", "pdf"):
      assert (run / f"{stem}.{ext}").stat().st_size > 0
  for stem in ("activation_std", "train_accuracy"):
    for ext in ("md", "tex", "csv"):
      assert (run / f"{stem}.{ext}").stat().st_size > 0
  assert (run / "summary.json").exists()


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_tables_equal_the_stored_arrays(run):
  found = _found(run)
  L = CFG.hidden
  for row in _read_csv(run / "activation_std.csv"):
    a = found[(DATA, row["batch_norm"] == "True", row["case"])]
    assert float(row["act_std_l1_mean"]) == pytest.approx(a["act_std_SL"][:, 0].mean(), rel=1e-12)
    assert float(row[f"log10_act_std_l{L}_mean"]) == pytest.approx(
        np.log10(a["act_std_SL"][:, -1]).mean(), rel=1e-12)
    assert float(row[f"log10_grad_w_l{L}_mean"]) == pytest.approx(
        np.log10(a["grad_w_SL"][:, L - 1]).mean(), rel=1e-12)
  stored = np.load(run / "stages" / "train_tanh_plain.npz")
  np.testing.assert_array_equal(stored["precise_MK"], stored["metrics_MK"])  # no BatchNorm
  rows = _read_csv(run / "train_accuracy.csv")
  assert len(rows) == len(CFG.cases)
  for row in rows:
    scheme = {exp.label(c): c[1] for c in CFG.cases}[row["case"]]
    mine = stored["scheme_M"] == scheme
    assert float(row["test_acc_mean"]) == pytest.approx(stored["precise_MK"][mine, 3].mean(),
                                                        rel=1e-12)
    assert float(row["train_loss_mean"]) == pytest.approx(stored["precise_MK"][mine, 0].mean(),
                                                          rel=1e-12)
    assert float(row["running_bn_test_acc_mean"]) == pytest.approx(
        stored["metrics_MK"][mine, 3].mean(), rel=1e-12)
    assert int(row["n"]) == CFG.train_seeds


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_plotted_values_equal_the_stored_ones(run):
  found = _found(run)
  fig = exp.depth_figure(CFG, found)
  lines = {line.get_gid(): line for ax in fig.axes for line in ax.get_lines() if line.get_gid()}
  for case in map(exp.label, CFG.cases):
    a = found[(DATA, False, case)]
    for key, _, theory in exp.QUANTITIES:
      gid = f"{key}|{DATA}|False|{case}"
      np.testing.assert_array_equal(lines[f"{gid}|mean"].get_ydata(),
                                    a[key][:, :CFG.hidden].mean(axis=0))
      if theory:
        np.testing.assert_array_equal(lines[f"{gid}|theory"].get_ydata(), a["theory_L"])


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_second_call_reads_back(run):
  stamps = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
  assert exp.main(["--tiny", "--out", str(run)]) == 0
  _found(run)  # the stages read back
  assert {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == stamps
  assert os.path.exists(run / "summary.json")
