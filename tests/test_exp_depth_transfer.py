"""experiments/depth_transfer.py at tiny size (two moons, width 8, 1 and 4 blocks): the arms' stream
growth at init follows the theory, the tables and the optimum hold the records, the arms sharing a
program are told apart; a rerun reads back."""

import importlib
import json

import pytest
from experiment_checks import read_csv

from jaxinit import records, results, schemes

exp = importlib.import_module("experiments.depth_transfer")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  folder = tmp_path_factory.mktemp("depth_transfer")
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  return folder, json.loads((folder / "summary.json").read_text())["headline"]["optimal_lr"]


def test_stream_growth_follows_the_theory(run):
  _, headline = run
  for key, cell in headline.items():
    arm = key.split("/L")[0]
    if arm in ("skipinit", "fixup"):  # branches start at zero: the stream is h_0 exactly
      assert cell["stream_growth"] == 1.0 and cell["stream_growth_theory"] == 1.0
    else:  # width 8 is far from infinite: within 50% of the theory
      assert 0.5 < cell["stream_growth"] / cell["stream_growth_theory"] < 1.5, key
  # BatchNorm adds ~1 per block to a stream of second moment q_0: far less than 2^L
  assert headline["batchnorm/L4"]["stream_growth"] < 0.5 * headline["standard/L4"]["stream_growth"]
  assert headline["standard/L4"]["stream_growth_theory"] == 16.0
  assert headline["1/sqrt(L)/L4"]["stream_growth_theory"] == pytest.approx(1.25 ** 4)


def test_tables_hold_the_records_of_each_arm(run):
  folder, headline = run
  table = read_csv(folder / "loss_by_lr.csv")
  assert len(table) == len(exp.ARMS) * 2 * 4  # arms x depths x learning rates
  shared = records.read_records(folder / "stages" / "standard+skipinit+fixup-L4" / "records.jsonl")
  for arm in ("standard", "skipinit", "fixup"):
    scheme = schemes.get(next(a.scheme for a in exp.ARMS if a.name == arm)).name
    own = results.summarize([r for r in shared if r["scheme"] == scheme], by=("scheme", "lr"))
    mine = [r for r in table if r["arm"] == arm and r["blocks"] == "4"]
    for a, b in zip(own, mine, strict=True):
      assert float(b["lr"]) == a["lr"]
      assert float(b["train_loss_mean"]) == pytest.approx(a["train_loss_mean"], rel=1e-9)
    best = min(own, key=lambda r: r["train_loss_mean"])
    assert headline[f"{arm}/L4"]["best_lr"] == best["lr"]
  assert all((folder / f"depth_transfer.{ext}").stat().st_size > 1000 for ext in ("png", "pdf"))


def test_second_run_reads_back(run):
  folder, headline = run
  (folder / "summary.json").unlink()
  stored = folder / "stages" / "batchnorm-L4" / "records.jsonl"
  before = stored.stat().st_mtime_ns
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  assert stored.stat().st_mtime_ns == before
  summary = json.loads((folder / "summary.json").read_text())
  assert summary["headline"]["optimal_lr"] == headline and summary["computed"] == []
