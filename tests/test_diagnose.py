"""Tests for jaxinit.studies.diagnose: a tiny moons run writes its files, the table is the mean over
seeds of diagnostics.csv, the folder rules hold, and bad input fails before anything is written."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
import shutil

import numpy as np
import pytest

from jaxinit import data
from jaxinit.nets import models
from jaxinit.studies import diagnose as dg

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MODEL = models.ModelConfig(widths=(8, 8, 1), activation="tanh")  # one model: one compile per file
CONFIG = dg.DiagnoseConfig(data="moons", model=MODEL, schemes=("zeros", "he_normal"), seeds=(0, 1, 2),
                           examples=32, bins=8)
HEADER = (r"| scheme | layer | G(l) = mean z^2 | std z | E \|\|dL/dz\|\|^2 | dead | saturated | "
          r"E z^4/E[z^2]^2 | theory |")


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dg.DiagnoseResult:
  return dg.run(CONFIG, tmp_path_factory.mktemp("diag") / "d")


def read_csv(path) -> list[dict]:
  numeric = lambda k, v: v if k in ("scheme", "quantity") else float(v)
  with open(path, newline="") as f:
    return [{k: numeric(k, v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_writes_the_marker_csv_and_figures(result: dg.DiagnoseResult) -> None:
  folder = result.folder
  saved = json.loads((folder / dg.MARKER).read_text())
  assert saved["config"] == json.loads(json.dumps(CONFIG.to_json())) and saved["examples_used"] == 32
  assert len(saved["records"]) == len(result.rows) == 6 * (3 * 4 + 2)  # members x (layers x 4 + act)
  assert np.asarray(saved["jacobian_singular_values"]).shape == (6, 1)
  assert {q: np.shape(e) for q, e in saved["edges"].items()} == {
      q: (2 if q == "act" else 3, 9) for q in saved["edges"]}  # per layer, 8 bins
  rows = read_csv(folder / "diagnostics.csv")
  assert len(rows) == len(result.rows) and "hist" not in rows[0]
  expected = {f"hist_{s}_{q}.png" for s in ("zeros", "he_normal")
              for q in ("weight", "preact", "act", "grad_preact", "grad_weight")}
  expected |= {"kernel_he_normal.png", "kernel_zeros.png", "jacobian_spectrum.png"}
  assert {p.name for p in result.figures} == expected
  assert {p.name for p in folder.iterdir()} == expected | {"diagnostics.json", "diagnostics.csv"}
  assert all(p.read_bytes()[:8] == PNG_MAGIC for p in result.figures)


def test_table_cells_are_the_means_of_the_csv_rows(result: dg.DiagnoseResult) -> None:
  rows = read_csv(result.folder / "diagnostics.csv")
  lines = result.markdown.splitlines()
  assert lines[0] == HEADER and lines[1] == "|:---|" + "---:|" * 8
  body = {(m.group(1), int(m.group(2))): m.group(3).split(" | ")
          for m in (re.match(r"^\| (\S+) \| (\d+) \| (.*) \|$", line) for line in lines[2:]) if m}
  assert [(r["scheme"], r["layer"]) for r in result.table] == list(body) == [
      (s, layer) for s in ("zeros", "he_normal") for layer in (1, 2, 3)]
  for row in result.table:
    key = (row["scheme"], row["layer"])
    assert row["n"] == 3
    for (field, quantity, _, fmt), cell in zip(dg.COLUMNS, body[key][:len(dg.COLUMNS)],
                                               strict=True):
      values = [r[field] for r in rows if (r["scheme"], r["layer"], r["quantity"]) == (*key, quantity)]
      if not values:  # the output layer has no act row
        assert math.isnan(row[f"{field}_mean"]) and cell == "-"
        continue
      assert len(values) == 3
      mean = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
      assert row[f"{field}_mean"] == pytest.approx(mean, rel=1e-12, nan_ok=True)
      finite = np.asarray(values, np.float64)[np.isfinite(values)]
      assert row[f"{field}_n"] == finite.size
      if finite.size > 1:
        assert row[f"{field}_std"] == pytest.approx(np.std(finite, ddof=1), rel=1e-9, abs=1e-15)
      assert cell == format(mean, fmt).replace("nan", "-")
  assert body["zeros", 1][0] == "0"  # zeros: z = 0 exactly
  assert body["he_normal", 1][3] == "-"  # dead is for relu; tanh's column says saturated
  # The ensemble statistic over the 3 networks and its finite-width prediction (Gaussian weights,
  # tanh at C_W = 2, C_b = 0: 3 at layer 1); none for zeros (z = 0).
  assert body["zeros", 2][-2:] == ["-", "-"]
  he = {r["layer"]: r for r in result.table if r["scheme"] == "he_normal"}
  assert he[1]["ensemble_ratio_theory"] == pytest.approx(3.0)
  assert he[3]["ensemble_ratio_theory"] > 3 and he[3]["ensemble_ratio_se"] > 0
  assert body["he_normal", 3][-2:] == [f"{he[3]['ensemble_ratio']:.3f} ± "
                                       f"{he[3]['ensemble_ratio_se']:.3f}",
                                       f"{he[3]['ensemble_ratio_theory']:.3f}"]


def test_printed_text_names_its_statistic(result: dg.DiagnoseResult) -> None:
  caption = result.markdown.splitlines()[-1]
  assert result.markdown.splitlines()[-2] == ""
  assert caption.startswith("Each cell is the mean over the 3 seeds of its row, at initialization, "
                            "on 32 moons training examples: G(l) = mean z(l)^2")
  assert result.closing == (f"means over 3 seeds at init, on 32 moons examples; diagnostics.json, "
                            f"diagnostics.csv and 13 figures in {result.folder}")
  assert result.text() == f"{result.markdown}\n\n{result.closing}"


def test_several_scales_are_grouped_apart(tmp_path) -> None:
  cfg = dataclasses.replace(CONFIG, schemes=("he_normal",), scales=(0.5, 2))  # M = 6 as CONFIG
  out = dg.run(cfg, tmp_path / "s", figures=False)
  assert out.markdown.splitlines()[0].startswith("| scheme | scale | layer | G(l)")
  assert [(r["scale"], r["layer"], r["n"]) for r in out.table] == [
      (s, layer, 3) for s in (0.5, 2.0) for layer in (1, 2, 3)]
  assert "| he_normal | 0.5 | 1 |" in out.markdown
  kernel = {r["scale"]: r["kernel_mean"] for r in out.table if r["layer"] == 1}
  assert kernel[2.0] == pytest.approx(16 * kernel[0.5], rel=1e-5)  # G(1) scales as scale^2 (C_b = 0)
  # The figures (drawn in test_writes_the_marker_csv_and_figures) are per scheme and scale too.
  assert dg._groups(cfg.members(), cfg.group_keys()) == {
      "he_normal scale=0.5": [0, 1, 2], "he_normal scale=2": [3, 4, 5]}


def test_folder_rules(tmp_path, result: dg.DiagnoseResult) -> None:
  with pytest.raises(ValueError, match="is not empty; pass --overwrite to replace it"):
    dg.run(CONFIG, result.folder)  # refused before anything is computed
  folder = tmp_path / "d"
  shutil.copytree(result.folder, folder)
  (folder / "stray.txt").write_text("x")
  again = dg.run(CONFIG, folder, overwrite=True, figures=False)
  assert again.figures == () and "diagnostics.csv and 0 figures in" in again.closing
  assert sorted(p.name for p in folder.iterdir()) == ["diagnostics.csv", "diagnostics.json"]
  assert json.dumps(again.table) == json.dumps(result.table)  # the same population, the same (NaN too)
  other = tmp_path / "other"
  other.mkdir()
  (other / "notes.txt").write_text("mine")
  with pytest.raises(ValueError, match=r"refusing to overwrite .* \(no diagnostics.json\)"):
    dg.run(CONFIG, other, overwrite=True, figures=False)
  assert [p.name for p in other.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("changes, match", [
    (dict(examples=0), "examples=0 is out of range; accepted: an int >= 1"),
    (dict(bins=0), "bins=0 is out of range; accepted: an int >= 1"),
    (dict(examples=2.5), "examples=2.5 is out of range; accepted: an int >= 1"),
    (dict(data_seed=-1), "data_seed=-1 is out of range"),
    (dict(data="moon"), "unknown dataset 'moon'; known: "),
    (dict(schemes=("he_normall",)), "unknown"),
    (dict(schemes=()), "schemes is empty"),
    (dict(seeds=(1, 1)), "seeds has duplicates"),
    (dict(seeds=3), "seeds must be a sequence"),
    (dict(model="mlp"), "model must be a jaxinit.nets.models.ModelConfig"),
])
def test_bad_config_is_refused(changes: dict, match: str) -> None:
  with pytest.raises(ValueError, match=re.escape(match)):
    dataclasses.replace(CONFIG, **changes)


def test_bad_input_fails_before_the_folder_is_touched(tmp_path, result: dg.DiagnoseResult) -> None:
  before = {p.name: p.stat().st_mtime_ns for p in result.folder.iterdir()}
  cnn = dataclasses.replace(CONFIG, model=models.ModelConfig(kind="cnn", widths=(4, 1), channels=(2,)))
  with pytest.raises(ValueError, match="CNN input"):  # moons are 2-D points, not images
    dg.run(cnn, result.folder, overwrite=True)
  mnist = dataclasses.replace(CONFIG, data="mnist", model=models.ModelConfig(widths=(8, 10)))
  with pytest.raises(data.DataError):
    dg.run(mnist, result.folder, overwrite=True, data_dir=tmp_path / "empty")
  assert {p.name: p.stat().st_mtime_ns for p in result.folder.iterdir()} == before
  with pytest.raises(ValueError, match="CNN input"):
    dg.run(cnn, tmp_path / "new")
  assert not (tmp_path / "new").exists()
  with pytest.raises(ValueError, match="config must be a DiagnoseConfig"):
    dg.run(CONFIG.to_json(), tmp_path / "new")
