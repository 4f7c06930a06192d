"""experiments/transformer_depth.py at --tiny size: the best-lr table is the minimum of the loss
table, each seed's best learning rate is its own argmin, and pre-LN trains at depth 2."""

import importlib
import math

import pytest
from experiment_checks import read_csv

from jaxinit import results


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  script = importlib.import_module("experiments.transformer_depth")
  out = tmp_path_factory.mktemp("transformer_depth")
  assert script.main(["--tiny", "--out", str(out)]) == 0
  return script, out


@pytest.mark.slow  # the tiny run takes about a minute
def test_best_rows_are_the_loss_tables_minimum_and_each_seeds_argmin(run):
  script, out = run
  cfg = script.TINY
  losses = read_csv(out / "loss_by_lr.csv")
  best = read_csv(out / "best.csv")
  assert len(best) == len(cfg.arms) * len(cfg.depths) * len(cfg.warmups)
  for row in best:
    cell = [r for r in losses if (r["arm"], r["depth"], r["warmup"]) ==
            (row["arm"], row["depth"], row["warmup"])]
    top = min(cell, key=lambda r: float(r["train_loss_mean"]))
    assert float(row["lr"]) == float(top["lr"])
    assert (row["trains"] == "True") == (
        float(top["train_loss_mean"]) < script.TRAINS * math.log(8))
    warmup = round(100 * float(row["warmup"]))
    stage = out / "stages" / f"{row['arm']}-depth{row['depth']}-warmup{warmup}"
    final = [r for r in results.read_records(stage / "records.jsonl") if r["epoch"] == cfg.epochs]
    per_seed = [math.log2(min((r for r in final if r["seed"] == s), key=lambda r: r["train_loss"])["lr"])
                for s in range(cfg.seeds)]
    assert row["per_seed_log2_lr"] == ",".join(f"{v:+.0f}" for v in per_seed)
  pre = next(r for r in best if r["arm"] == "pre-LN" and r["depth"] == "2")
  assert pre["trains"] == "True"
