"""experiments/depth_transfer.py: the arms' grouping into programs and their theory (fast); at tiny
size (two moons, width 8, 1 and 4 blocks; ~60 s of compiling, so in the slow suite) the stream
growth at init follows the theory, the tables and the optimum hold the records, the arms sharing a
program are told apart, and a rerun reads back."""

import importlib
import json

import pytest
from experiment_checks import read_csv

from jaxinit import results, schemes
from jaxinit.results import records

exp = importlib.import_module("experiments.depth_transfer")


def test_arms_differing_only_in_scheme_share_a_program():
  groups = exp.programs(exp.Config())
  assert [name for name, _ in groups] == ["standard+skipinit+fixup", "1_sqrt(L)", "batchnorm"]
  config = exp.sweep_config(exp.Config(), 4, groups[0][1])
  assert config.schemes == ("he_normal", "skipinit(base=he_normal)", "fixup(base=he_normal)")
  assert config.model.blocks == 4 and config.model.depth == 10
  assert exp.sweep_config(exp.Config(), 4, groups[1][1]).model.branch_multiplier == "1/sqrt(depth)"


def test_theory_growth_is_the_resmlp_recursion():
  arms = {a.name: a for a in exp.ARMS}
  assert exp.theory_growth(8, arms["standard"], 2.0) == 2.0 ** 8
  assert exp.theory_growth(8, arms["1/sqrt(L)"], 2.0) == pytest.approx((1 + 1 / 8) ** 8)
  assert exp.theory_growth(8, arms["fixup"], 2.0) == exp.theory_growth(8, arms["skipinit"], 2.0) == 1
  assert exp.theory_growth(8, arms["batchnorm"], 2.0) == 1 + 8 / 2.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  folder = tmp_path_factory.mktemp("depth_transfer")
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  return folder, json.loads((folder / "summary.json").read_text())["headline"]["optimal_lr"]


@pytest.mark.slow
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


@pytest.mark.slow
def test_tables_hold_the_records_of_each_arm(run):
  folder, headline = run
  table = read_csv(folder / "loss_by_lr.csv")
  first, last = exp.TINY.lr_exponents
  assert len(table) == len(exp.ARMS) * 2 * (last - first + 1)  # arms x depths x learning rates
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


@pytest.mark.slow
def test_second_run_reads_back(run):
  folder, headline = run
  (folder / "summary.json").unlink()
  stored = folder / "stages" / "batchnorm-L4" / "records.jsonl"
  before = stored.stat().st_mtime_ns
  assert exp.main(["--tiny", "--out", str(folder)]) == 0
  assert stored.stat().st_mtime_ns == before
  summary = json.loads((folder / "summary.json").read_text())
  assert summary["headline"]["optimal_lr"] == headline and summary["computed"] == []
