"""The finite-width corrections experiment at tiny size: the excess kurtosis of preactivations grows
with depth and falls with width, the table and figures hold the stored ensembles' numbers, and a
second run reads back. (The sampled chain against real networks: tests/test_finite_width.py.)"""

import csv
import importlib
import json

import numpy as np
import pytest

exp = importlib.import_module("experiments.finite_width_corrections")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  out = tmp_path_factory.mktemp("fwc")
  assert exp.main(["--tiny", "--out", str(out)]) == 0
  return out


def _stored(out, act, n):
  with np.load(out / "stages" / f"sampled-{act}-n{n}.npz") as f:
    return exp.moments(f["a"], f["b"])


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_kurtosis_grows_with_depth_and_falls_with_width(run):
  cfg = exp.TINY
  narrow, wide = min(cfg.widths), max(cfg.widths)
  for act in cfg.activations:
    ratio_narrow, ratio_wide = _stored(run, act, narrow)["ratio"], _stored(run, act, wide)["ratio"]
    assert ratio_narrow[-1] > ratio_narrow[1] + 0.3  # deeper: heavier tails
    assert ratio_wide[-1] > ratio_wide[1]
    assert ratio_narrow[-1] > ratio_wide[-1] + 0.5  # wider: closer to Gaussian (3)
    assert abs(ratio_wide[0] - 3) < 0.3  # layer 1 is Gaussian at any width


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_wide_networks_follow_the_theory(run):
  """At width 64 the 1/n theory holds: within 4 standard errors at every layer."""
  cfg = exp.TINY
  n, M = cfg.widths[-1], cfg.networks[-1]
  for act in cfg.activations:
    s, t = _stored(run, act, n), exp.width_theory(act, cfg, n)
    assert np.all(np.abs(s["ratio"] - t["ratio"]) < 4 * s["ratio_sd"] / np.sqrt(M) + 1e-3)
  width = cfg.widths[0]
  tanh = _stored(run, "tanh", width)["second"] / exp.width_theory("tanh", cfg, width)["K"]
  assert tanh[-1] < 0.95  # tanh's mean kernel falls below K(l) at width 8 (delta_K < 0)


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_outputs_hold_the_stored_numbers(run):
  for stem in ("fourth_moment", "mean_kernel"):
    assert (run / f"{stem}.png").stat().st_size > 0 and (run / f"{stem}.pdf").exists()
  rows = list(csv.DictReader((run / "layer_last.csv").open()))
  assert len(rows) == len(exp.TINY.activations) * len(exp.TINY.widths)
  for row in rows:
    s = _stored(run, row["activation"], int(row["width"]))
    assert float(row["ratio_mean"]) == pytest.approx(s["ratio"][-1], rel=1e-9)
    theory = exp.width_theory(row["activation"], exp.TINY, int(row["width"]))
    assert float(row["ratio_theory_mean"]) == pytest.approx(theory["ratio"][-1], rel=1e-9)
  summary = json.loads((run / "summary.json").read_text())
  assert summary["headline"]["relu_n8_layer6_ratio"] == round(_stored(run, "relu", 8)["ratio"][-1], 4)


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_second_run_reads_back(run, capsys, monkeypatch):
  def fail(*args, **kwargs):
    raise AssertionError("recomputed a finished stage")
  monkeypatch.setattr(exp, "sampled_moments", fail)
  assert exp.main(["--tiny", "--out", str(run)]) == 0
  assert "finished earlier" in capsys.readouterr().err  # summary.json: main returns at once
  (run / "summary.json").unlink()  # then every stage is read back, none recomputed
  assert exp.main(["--tiny", "--out", str(run)]) == 0
  assert "computed earlier" in capsys.readouterr().err
