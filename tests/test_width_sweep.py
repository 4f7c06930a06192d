"""Tests of the width sweep: one sweep per width, tables by width, the optimal learning rate, the
base width training as SP, resuming, and the command line.

Tolerances: the base width's members train exactly as SP's (every factor is 1: the same program),
so their records are compared for equality.
"""

from __future__ import annotations

import csv
import json
import math

import pytest

from jaxinit import cli, results
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.studies import sweep, width_sweep

ARGS = ["sweep", "--width", "8,16", "--widths", "4,4,1", "--parametrization", "mup",
        "--optimizer", "adam", "--lr", "0.01,0.1", "--seeds", "2", "--schemes", "he_normal",
        "--epochs", "3", "--quiet", "--no-figures"]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory) -> tuple:
  out = tmp_path_factory.mktemp("widths")
  assert cli.main([*ARGS, "--out", str(out), "--name", "ws"]) == 0
  return out / "ws", out


def test_cli_runs_one_sweep_per_width_with_the_smallest_as_base(cli_run) -> None:
  folder, _ = cli_run
  for width in (8, 16):
    config = sweep.load_config(json.loads((folder / f"width_{width}" / "config.json").read_text()))
    assert config.model.widths == (width, width, 1)
    assert config.model.parametrization == "mup(base_width=8)"
    assert config.lrs == (0.01, 0.1) and config.seeds == (0, 1)


def test_tables_by_width_are_each_widths_own(cli_run) -> None:
  folder, _ = cli_run
  rows = list(csv.DictReader((folder / "by_width.csv").open()))
  assert [(r["width"], r["lr"]) for r in rows] == [("8", "0.01"), ("8", "0.1"), ("16", "0.01"),
                                                   ("16", "0.1")]
  for width in (8, 16):
    own = results.summarize(results.read_records(folder / f"width_{width}" / "records.jsonl"),
                            by=("scheme", "lr"))
    mine = [r for r in rows if r["width"] == str(width)]
    for a, b in zip(own, mine, strict=True):
      assert float(b["train_loss_mean"]) == pytest.approx(a["train_loss_mean"], rel=1e-9)
  best = list(csv.DictReader((folder / "optimal_lr.csv").open()))
  for row in best:
    candidates = [r for r in rows if r["width"] == row["width"]]
    want = min(candidates, key=lambda r: float(r["train_loss_mean"]))
    assert float(row["lr"]) == float(want["lr"])
  assert "| width | scheme | best lr |" in (folder / "optimal_lr.md").read_text()


def test_the_base_width_trains_as_sp(cli_run) -> None:
  """The width-8 sweep under mup(base_width=8) has SP's records, bit for bit."""
  folder, out = cli_run
  sp_args = [a if a != "mup" else "sp" for a in ARGS]
  sp_args[sp_args.index("8,16")] = "8"
  assert cli.main([*sp_args, "--out", str(out), "--name", "sp8"]) == 0
  strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]
  mine = results.read_records(folder / "width_8" / "records.jsonl")
  theirs = results.read_records(out / "sp8" / "records.jsonl")
  assert strip(mine) == strip(theirs) and len(mine) == 2 * 2 * 3


def test_resume_reads_finished_widths_back(cli_run, capsys) -> None:
  folder, out = cli_run
  before = {f: (folder / "width_16" / f).stat().st_mtime_ns for f in ("records.jsonl", "run.json")}
  table = (folder / "by_width.csv").read_text()
  assert cli.main([*ARGS, "--out", str(out), "--name", "ws", "--resume"]) == 0
  assert {f: (folder / "width_16" / f).stat().st_mtime_ns for f in before} == before
  assert (folder / "by_width.csv").read_text() == table
  assert "width 16 (2 of 2), mup(base_width=8): finished earlier" in capsys.readouterr().err


def test_optimal_lr_skips_diverged_groups() -> None:
  table = [{"width": 8, "scheme": "s", "lr": 0.1, "train_loss_mean": math.nan},
           {"width": 8, "scheme": "s", "lr": 0.01, "train_loss_mean": 0.5},
           {"width": 16, "scheme": "s", "lr": 0.1, "train_loss_mean": math.nan}]
  best = width_sweep.optimal_lr(table)
  assert best[0]["lr"] == 0.01 and math.isnan(best[1]["lr"])


def test_bad_widths_are_refused(capsys) -> None:
  config = sweep.SweepConfig(model=models.ModelConfig(widths=(4, 4, 1)),
                             train=tr.TrainConfig(epochs=1))
  with pytest.raises(ValueError, match="distinct"):
    width_sweep.configs(config, [8, 8])
  assert cli.main(["sweep", "--model", "cnn", "--data", "mnist", "--width", "8,16"]) == 2
  assert "--width sets the hidden widths of an mlp or resmlp" in capsys.readouterr().err
  assert cli.main(["sweep", "--widths", "8,4,1", "--parametrization", "ntk"]) == 2
  assert "equal hidden widths" in capsys.readouterr().err


def test_lr_transfer_draws_one_curve_per_width_and_panel() -> None:
  """Rows with two momenta get a panel each (one curve would zig-zag between them), and each
  curve is one width's means in learning-rate order, its best starred."""
  from jaxinit.results import plots

  rows = [{"width": w, "scheme": "he_normal", "momentum": mom, "lr": lr,
           "train_loss_mean": (lr - 0.1 * w / 8) ** 2 + mom, "train_loss_ci95": 0.01}
          for w in (8, 16) for mom in (0.0, 0.9) for lr in (0.2, 0.1)]
  fig = plots.lr_transfer(rows)
  assert [ax.get_title() for ax in fig.axes] == ["he_normal, momentum 0.0", "he_normal, momentum 0.9"]
  curve = fig.axes[1].containers[1][0]  # momentum 0.9, width 16
  assert list(curve.get_xdata()) == [0.1, 0.2]
  assert list(curve.get_ydata()) == pytest.approx([0.01 + 0.9, 0.0 + 0.9])
  best = plots.lr_curves(fig.axes[0], [r for r in rows if r["momentum"] == 0.0])
  assert best == {8: 0.1, 16: 0.2}
