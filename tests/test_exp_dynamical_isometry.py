"""experiments/dynamical_isometry.py at --tiny size: the spectrum table is the stored eigenvalues'
moments, orthogonal (delta-orthogonal) tanh networks are far closer to isometry than Gaussian ones
and match the theory, and the training table equals the sweeps' records."""

import importlib
import json

import numpy as np
import pytest
from experiment_checks import needs_mnist, read_csv

from jaxinit import results

pytestmark = needs_mnist


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  script = importlib.import_module("experiments.dynamical_isometry")
  out = tmp_path_factory.mktemp("isometry")
  assert script.main(["--tiny", "--out", str(out)]) == 0
  return script, out


def _spectrum(out):
  return {(r["network"], r["activation"], r["weights"], int(r["depth"])): r
          for r in read_csv(out / "spectrum.csv")}


@pytest.mark.slow  # the tiny run takes about a minute
def test_spectrum_table_is_the_stored_eigenvalues(run):
  _, out = run
  table = _spectrum(out)
  stored = {}
  for name in ("mlp_spectra", "cnn_spectra"):
    with np.load(out / "stages" / f"{name}.npz") as f:
      stored.update({k: f[k] for k in f.files if k != "__key__"})
  assert len(stored) == len(table)
  for key, eig in stored.items():
    net, act, weights, depth = key.split("/")
    row = table[(net, act, weights, int(depth))]
    assert float(row["eig_mean_mean"]) == pytest.approx(eig.mean(1).mean(), rel=1e-9)
    assert float(row["eig_var_mean"]) == pytest.approx(eig.var(1).mean(), rel=1e-9)
    assert int(row["n"]) == eig.shape[0]


@pytest.mark.slow  # the tiny run takes about a minute
def test_orthogonal_tanh_is_isometric_and_gaussian_is_not(run):
  """At every depth: the orthogonal (delta-orthogonal) tanh network's eigenvalue variance is below
  a tenth of the Gaussian one's, its mean within 5% of 1, its variance within 30% of Pennington et
  al.'s (the tiny widths are 32 and 4 x 4 x 4: finite-width corrections of that order); ReLU's
  Gaussian variance is about twice its orthogonal one in theory."""
  script, out = run
  table = _spectrum(out)
  for net, ortho, depths in (("mlp", "orthogonal", script.TINY.depths),
                             ("cnn", "delta_orthogonal", script.TINY.cnn_depths)):
    for depth in depths:
      o, g = table[(net, "tanh", ortho, depth)], table[(net, "tanh", "gaussian", depth)]
      assert float(o["eig_var_mean"]) < 0.1 * float(g["eig_var_mean"])
      assert float(o["eig_mean_mean"]) == pytest.approx(1.0, abs=0.05)
      if net == "mlp":
        assert float(o["eig_var_mean"]) == pytest.approx(float(o["theory_var_mean"]), rel=0.3)
  for depth in script.TINY.depths:
    relu_g, relu_o = (table[("mlp", "relu", w, depth)] for w in ("gaussian", "orthogonal"))
    assert float(relu_g["theory_var_mean"]) == pytest.approx(2 * float(relu_o["theory_var_mean"]))


@pytest.mark.slow  # the tiny run takes about a minute
def test_training_table_equals_the_records(run):
  script, out = run
  cfg = script.TINY
  table = read_csv(out / "training.csv")
  assert len(table) == 2 * (len(cfg.train_depths) * len(cfg.lrs)
                            + len(cfg.train_cnn_depths) * len(cfg.cnn_lrs))
  for row in table:
    stage = out / "stages" / f"train-{row['network']}-{row['weights']}-depth{row['depth']}"
    final = [r for r in results.read_records(stage / "records.jsonl")
             if r["epoch"] == cfg.epochs and r["lr"] == float(row["lr"])]
    assert len(final) == cfg.seeds
    assert float(row["train_acc_mean"]) == pytest.approx(np.mean([r["train_acc"] for r in final]))
  summary = json.loads((out / "summary.json").read_text())
  assert set(summary["figures"]) == {"spectra", "spectrum_moments", "training"}
