"""Tests of the coordinate check: muP is width-stable, SP with Adam is not, and what is written is
what was measured.

Tolerances: with 3 seeds per width and widths 32 and 128, the per-seed slopes spread by 0.02-0.2
(std over seeds, measured; the readout's is the largest). muP's change slopes must be within 0.15 of
0 at every layer; SP's hidden and readout change slopes are near 1 (0.83-1.21 measured) and must
exceed 0.6. The first layer's change is width-independent under both (its fan-in is the input's).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from jaxinit import cli
from jaxinit.nets import models
from jaxinit.studies import coordcheck

WIDTHS = (32, 128)
SETTINGS = dict(widths=WIDTHS, steps=2, seeds=(0, 1, 2), lr=0.01, optimizer="adam")


def _config(parametrization: str) -> coordcheck.CoordCheckConfig:
  model = models.ModelConfig(widths=(32, 32, 1), parametrization=parametrization)
  return coordcheck.CoordCheckConfig(model=model, **SETTINGS)


@pytest.fixture(scope="module")
def checks() -> dict[str, coordcheck.CoordCheck]:
  return {p: coordcheck.run(_config(p), quiet=True) for p in ("sp", "mup(base_width=32)")}


def test_mup_is_width_stable_and_sp_with_adam_is_not(checks: dict) -> None:
  mup, spread = checks["mup(base_width=32)"].slopes("change")
  assert mup.shape == (3, 3) and np.isnan(mup[0]).all()
  assert np.all(np.abs(mup[1:]) < 0.15), mup
  assert np.all(spread[1:] < 0.2)  # the tolerance above is a few seed spreads, not more
  sp, _ = checks["sp"].slopes("change")
  assert np.all(sp[1:, 1:] > 0.6), sp   # hidden and readout updates grow with width
  assert np.all(np.abs(sp[1:, 0]) < 0.15)  # the input layer's do not
  # muP's readout weights start at std ~ 1/width (var 1/fan_in^2), so its one logit at ~ 1/sqrt(width):
  # slope -1/2 at init (measured -0.66; a single logit on 64 examples is the noisiest measure).
  size, _ = checks["mup(base_width=32)"].slopes("size")
  assert abs(size[0, -1] + 0.5) < 0.25 and np.all(np.abs(size[0, :-1]) < 0.15)


def test_measurements_are_the_models_preactivations(checks: dict) -> None:
  """Step 0's sizes are the RMS of the initial preactivations of the same members drawn again."""
  from jaxinit import data
  from jaxinit.engine import population

  check = checks["mup(base_width=32)"]
  x = data.moons(0).x_train[:check.config.batch]
  cfg = check.config.model.at_width(128)
  members = [population.Member("he_normal", s) for s in check.config.seeds]
  params = population.init_params(cfg, members, (2,))
  model = models.build(cfg)
  for k in range(len(members)):
    one = {"params": {n: {f: v[k] for f, v in layer.items()} for n, layer in params["params"].items()}}
    _, sown = models.logits_and_intermediates(model, one, x)
    rms = [float(np.sqrt(np.mean(np.square(np.asarray(sown[f"preact_{i}"], np.float64)))))
           for i in range(3)]
    np.testing.assert_allclose(check.size_WSTL[1, k, 0], rms, rtol=1e-6)
  assert np.all(check.change_WSTL[:, :, 0] == 0) and np.all(check.change_WSTL[:, :, 1:] > 0)
  assert np.all(np.isfinite(check.loss_WST)) and check.loss_WST.shape == (2, 3, 3)
  assert np.all(check.loss_WST[:, :, 2] < check.loss_WST[:, :, 0])  # the steps train


def test_cli_writes_what_the_api_measures(checks: dict, tmp_path, capsys) -> None:
  """``jaxinit coordcheck`` with the fixture's settings (its programs cached) prints and writes the
  API's numbers: slopes table and CSV, the measurements' JSON, the figures."""
  code = cli.main(["coordcheck", "--width", "32,128", "--layers", "2", "--steps", "2",
                   "--seeds", "0:3", "--parametrization", "sp,mup", "--out", str(tmp_path),
                   "--name", "cc"])
  assert code == 0
  folder = tmp_path / "cc"
  out = capsys.readouterr().out
  mup_slope = checks["mup(base_width=32)"].slopes("change")[0]
  assert f"| mup(base_width=32) | change | 1 | {mup_slope[2, 1]:+.3f} |" in out
  assert out.startswith((folder / "slopes.md").read_text())
  slope, spread = checks["sp"].slopes("change")
  row = next(r for r in csv.DictReader((folder / "slopes.csv").open()) if r["check"] == "sp"
             and r["measure"] == "change" and r["step"] == "2" and r["layer"] == "2")
  assert float(row["slope"]) == pytest.approx(slope[2, 2], rel=1e-6)
  assert float(row["spread"]) == pytest.approx(spread[2, 2], rel=1e-6)
  stored = json.loads((folder / "coordcheck.json").read_text())
  np.testing.assert_allclose(stored["sp"]["size_WSTL"], checks["sp"].size_WSTL, rtol=1e-6)
  for name in ("coord_check_change", "coord_check_size"):
    assert all((folder / f"{name}{ext}").stat().st_size > 1000 for ext in (".png", ".pdf"))


def test_figure_shows_the_measurements(checks: dict) -> None:
  from jaxinit.results import plots

  fig = plots.coord_check(checks, "change")
  assert len(fig.axes) == 4  # 2 checks x 2 steps
  change = checks["mup(base_width=32)"].change_WSTL
  slope = checks["mup(base_width=32)"].slopes("change")[0]
  ax = fig.axes[1 * 2 + 1]  # muP, step 2
  assert len(ax.lines) == 3
  for layer, line in enumerate(ax.lines):
    np.testing.assert_allclose(line.get_xdata(), WIDTHS)
    np.testing.assert_allclose(line.get_ydata(), change[:, :, 2, layer].mean(1))
    assert line.get_label() == f"layer {layer}: {slope[2, layer]:+.2f}"


def test_bad_configs_are_refused() -> None:
  with pytest.raises(ValueError, match="at least two increasing"):
    coordcheck.CoordCheckConfig(widths=(64,))
  with pytest.raises(ValueError, match="steps=0 is out of range"):
    coordcheck.CoordCheckConfig(steps=0)
  with pytest.raises(ValueError, match="unknown scheme 'he_norma'"):
    coordcheck.CoordCheckConfig(scheme="he_norma")
  with pytest.raises(ValueError, match="seeds is empty"):
    coordcheck.CoordCheckConfig(seeds=())
  with pytest.raises(ValueError, match="without BatchNorm"):
    coordcheck.CoordCheckConfig(model=models.ModelConfig(widths=(8, 8, 1), batch_norm=True))
  with pytest.raises(ValueError, match="unknown measure"):
    coordcheck.CoordCheck(_config("sp"), np.ones((3, 1, 2, 3)), np.ones((3, 1, 2, 3)),
                          np.ones((3, 1, 2))).slopes("l1")


@pytest.mark.slow
@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.1), ("adam", 0.01)])
def test_ntk_is_the_kernel_regime_with_sgd_and_adam(optimizer: str, lr: float) -> None:
  """NTK: inputs and features move by ~ n^-1/2 and the output by Theta(1), with SGD (Jacot et al.)
  and with the Adam exponents derived in jaxinit.nets.parametrizations. Widths 32-512, 3 seeds: measured
  [-0.6, -0.6, -0.14] (spread 0.15-0.23) with SGD, [-0.50, -0.51, -0.05] (spread 0.02) with Adam."""
  model = models.ModelConfig(widths=(32, 32, 1), parametrization="ntk(base_width=32)")
  config = coordcheck.CoordCheckConfig(model=model, widths=(32, 128, 512), steps=2, seeds=(0, 1, 2),
                                       optimizer=optimizer, lr=lr)
  slope, _ = coordcheck.run(config, quiet=True).slopes("change")
  assert np.all(np.abs(slope[1:, :2] + 0.5) < 0.25), slope
  assert np.all(np.abs(slope[1:, 2]) < 0.3), slope
