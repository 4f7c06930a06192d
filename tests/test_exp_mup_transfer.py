"""experiments/mup_transfer.py at tiny size (two moons, widths 16 and 64, Adam): the base width
trains identically under SP and muP; the tables, the optimum and the figure hold the records'
numbers; a rerun reads the sweeps back."""

import importlib
import json
import math

import pytest
from experiment_checks import read_csv

from jaxinit import results
from jaxinit.results import records

exp = importlib.import_module("experiments.mup_transfer")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  folder = tmp_path_factory.mktemp("mup_transfer")
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  return folder, json.loads((folder / "summary.json").read_text())["headline"]["optimal_lr"]


def _records(folder, p, width):
  return records.read_records(folder / "stages" / f"adam-{p}-width{width}" / "records.jsonl")


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_at_the_base_width_sp_and_mup_are_one_network(run):
  folder, _ = run
  strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]
  assert strip(_records(folder, "SP", 16)) == strip(_records(folder, "muP", 16))
  assert strip(_records(folder, "SP", 64)) != strip(_records(folder, "muP", 64))


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_table_and_optimum_hold_the_records(run):
  folder, headline = run
  table = read_csv(folder / "loss_by_lr.csv")
  assert len(table) == 2 * 2 * 5  # parametrizations x widths x learning rates
  for p in ("SP", "muP"):
    for width in (16, 64):
      own = results.summarize(_records(folder, p, width), by=("scheme", "lr"))
      mine = [r for r in table if r["parametrization"] == p and r["width"] == str(width)]
      for a, b in zip(own, mine, strict=True):
        assert float(b["train_loss_mean"]) == pytest.approx(a["train_loss_mean"], rel=1e-9)
      best = min(own, key=lambda r: r["train_loss_mean"])
      cell = headline[f"adam/{p}/width{width}"]
      assert cell["best_lr"] == best["lr"]
      assert cell["train_loss"] == pytest.approx(best["train_loss_mean"])
      base = headline[f"adam/{p}/width16"]["best_lr"]
      assert cell["log2_shift"] == pytest.approx(math.log2(best["lr"] / base))
  assert "| adam | muP | 64 |" in (folder / "optimal_lr.md").read_text()


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_figure_draws_the_table(run):
  folder, _ = run
  table = read_csv(folder / "loss_by_lr.csv")
  numbers = ("lr", "train_loss_mean", "train_loss_ci95")
  rows = [{**r, **{k: float(r[k]) for k in numbers}, "width": int(r["width"]),
           "parametrization_key": "sp" if r["parametrization"] == "SP" else "mup(base_width={base})"}
          for r in table]
  fig = exp.figure(rows, exp.TINY)
  sp_panel = fig.axes[0]
  wide = [r for r in rows if r["parametrization"] == "SP" and r["width"] == 64]
  line = sp_panel.containers[1][0]  # the second width's error-bar curve
  assert list(line.get_xdata()) == [r["lr"] for r in wide]
  assert list(line.get_ydata()) == pytest.approx([r["train_loss_mean"] for r in wide])
  assert all((folder / f"lr_transfer.{ext}").stat().st_size > 1000 for ext in ("png", "pdf"))


@pytest.mark.slow  # the tiny run compiles for 10-30 s: the fast suite has no room
def test_second_run_reads_back(run):
  folder, headline = run
  (folder / "summary.json").unlink()  # else the finished experiment returns at once
  stored = folder / "stages" / "adam-muP-width64" / "records.jsonl"
  before = stored.stat().st_mtime_ns
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  assert stored.stat().st_mtime_ns == before
  summary = json.loads((folder / "summary.json").read_text())
  assert summary["headline"]["optimal_lr"] == headline and summary["computed"] == []


def test_each_sweep_is_one_width_of_one_parametrization_and_optimizer():
  """The full config's sweeps (no training): factor-2 learning rates, the base width's model, muP's
  base = the first width, and the data subset by name."""
  cfg = exp.Config()
  assert exp.learning_rates(-3, -1) == (0.125, 0.25, 0.5)
  config = exp.sweep_config(cfg, "adam", "mup(base_width={base})", exp.learning_rates(-14, -3))
  assert config.model.widths == (64, 64, 64, 10) and config.model.parametrization == "mup(base_width=64)"
  assert config.data == "mnist(n_train=10240, n_test=2048)" and len(config.lrs) == 12
  assert config.train.optimizer.startswith("adam(") and config.train.eval_every == cfg.epochs
  assert [exp.label(p) for p in ("sp", "ntk(base_width=8)", "mean_field(base_width=8)")] == [
      "SP", "NTK", "MF"]
  tiny = exp.sweep_config(exp.TINY, "adam", "sp", exp.learning_rates(-8, -4))
  assert tiny.model.widths[-1] == 1  # moons: one logit
