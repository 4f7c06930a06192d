"""experiments/mup_transformer.py at --tiny size: the optimal-lr table is each seed's argmin of its
sweep's records, and the attention logits' change grows with width under SP (1/sqrt(d)) faster than
under muP (1/d)."""

import importlib
import json
import math

import numpy as np
import pytest
from experiment_checks import read_csv

from jaxinit import results


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  script = importlib.import_module("experiments.mup_transformer")
  out = tmp_path_factory.mktemp("mup_transformer")
  assert script.main(["--tiny", "--out", str(out)]) == 0
  return script, out


@pytest.mark.slow  # the tiny run takes one to two minutes
def test_optimal_lr_is_each_seeds_argmin(run):
  script, out = run
  cfg = script.TINY
  for row in read_csv(out / "optimal_lr.csv"):
    records = results.read_records(
        out / "stages" / f"{row['parametrization']}-width{row['width']}" / "records.jsonl")
    final = [r for r in records if r["epoch"] == cfg.epochs]
    best = []
    for seed in range(cfg.seeds):
      mine = [r for r in final if r["seed"] == seed and math.isfinite(r["train_loss"])]
      best.append(math.log2(min(mine, key=lambda r: r["train_loss"])["lr"]))
    assert row["per_seed"] == ",".join(f"{b:+.0f}" for b in best)
    assert float(row["log2_lr_mean"]) == pytest.approx(np.mean(best))
    if int(row["width"]) == cfg.widths[0]:
      assert float(row["shift_mean"]) == 0.0


@pytest.mark.slow  # the tiny run takes one to two minutes
def test_sp_logits_grow_faster_with_width_than_mups(run):
  _, out = run
  slopes = {r["arm"]: float(r["slope"]) for r in read_csv(out / "logits.csv")}
  assert slopes["SP"] > slopes["muP"] + 0.2
  summary = json.loads((out / "summary.json").read_text())
  assert set(summary["figures"]) == {"lr_transfer", "logits"}
  assert summary["headline"]["logit_slopes"]["SP"]["slope"] == pytest.approx(slopes["SP"])
