"""experiments/coord_check.py at tiny size (two moons, widths 16 and 64, Adam): SP's hidden and
readout changes grow with width and muP's do not; the slopes table and the figure hold the
measurements; a rerun reads them back."""

import importlib
import json

import numpy as np
import pytest
from experiment_checks import read_csv

from jaxinit.studies import coordcheck

exp = importlib.import_module("experiments.coord_check")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  folder = tmp_path_factory.mktemp("coord_check")
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  return folder, json.loads((folder / "summary.json").read_text())["headline"]


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_sp_grows_with_width_and_mup_does_not(run):
  _, headline = run
  sp, mup = (np.asarray(headline["change_slope_step1"][f"adam/{p}"]) for p in ("SP", "muP"))
  # two widths and two seeds are noisy (per-seed spread up to 0.3): compare SP with muP
  assert np.all(sp[1:] > 0.5) and np.all(sp[1:] - mup[1:] > 0.5)
  assert abs(sp[0] - mup[0]) < 0.2  # the input layer is the same under both


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_slopes_table_and_figure_hold_the_measurements(run):
  folder, headline = run
  config = exp.check_config(exp.TINY, "mup(base_width={base})", "adam", 0.01)
  arrays = np.load(folder / "stages" / "adam-muP.npz")
  check = coordcheck.CoordCheck(config, *(arrays[k] for k in ("size_WSTL", "change_WSTL", "loss_WST")))
  slope, spread = check.slopes("change")
  rows = [r for r in read_csv(folder / "slopes.csv")
          if r["parametrization"] == "muP" and r["measure"] == "change" and r["step"] == "2"]
  assert [float(r["slope"]) for r in rows] == pytest.approx(slope[-1].tolist())
  assert [float(r["spread"]) for r in rows] == pytest.approx(spread[-1].tolist())
  assert headline["change_slope_last"]["adam/muP"] == pytest.approx(np.round(slope[-1], 3).tolist())
  assert headline["change_slope_step1"]["adam/muP"] == pytest.approx(np.round(slope[1], 3).tolist())
  row = f"| adam | muP | 1 | {slope[1, 1]:+.2f} ({spread[1, 1]:.2f}) |"
  assert row in (folder / "slopes.md").read_text()
  assert check.size_WSTL.shape == (2, 2, 3, 3)
  assert all((folder / f"coord_check_adam.{ext}").stat().st_size > 1000 for ext in ("png", "pdf"))


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_second_run_reads_back(run):
  folder, headline = run
  (folder / "summary.json").unlink()
  stored = folder / "stages" / "adam-SP.npz"
  before = stored.stat().st_mtime_ns
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  assert stored.stat().st_mtime_ns == before
  summary = json.loads((folder / "summary.json").read_text())
  assert summary["headline"] == headline and summary["computed"] == []


def test_each_arm_is_its_parametrization_and_scheme():
  """The full config's checks (no training): the base width, the zero-readout variant's scheme,
  and the labels."""
  cfg = exp.Config()
  mup0 = exp.check_config(cfg, "mup(base_width={base})+zero_readout", "adam", 2.0 ** -8)
  assert mup0.scheme == "layers(he_normal, he_normal, he_normal, zeros)"
  assert mup0.model.parametrization == "mup(base_width=64)" and mup0.widths == cfg.widths
  assert mup0.model.widths == (64, 64, 64, 10) and mup0.data == "mnist"
  assert [exp.label(p) for p in cfg.parametrizations] == ["SP", "NTK", "muP", "muP0"]
  with pytest.raises(ValueError, match="unknown variant"):
    exp.check_config(cfg, "sp+wide", "adam", 0.01)
  assert exp._cell(float("nan"), 0.0) == "-" and exp._cell(0.123, 0.01) == "+0.12 (0.01)"
