"""Tests of a sweep on disk and `jaxinit sweep`: files, figures, tables, interrupt + resume, errors."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

from jaxinit import cli, data, results
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.studies import sweep

ROOT = Path(__file__).resolve().parents[1]
SMALL = sweep.SweepConfig(schemes=("zeros", "he_normal"), seeds=(0, 1, 2),
                          train=tr.TrainConfig(epochs=6, batch_size=40))
# The interrupted sweep: 8 members, 400 one-example steps per epoch (~5 ms an epoch here).
LONG_EPOCHS = 100  # ample: the stops and the kill come within the first 30 epochs
LONG_FLAGS = ["--schemes", "he_normal,glorot_uniform", "--seeds", "4", "--epochs", str(LONG_EPOCHS),
              "--batch-size", "1", "--lr", "0.01", "--quiet", "--no-figures"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, sweep.SweepResult]:
  folder = tmp_path_factory.mktemp("runs") / "small"
  return folder, sweep.run(SMALL, folder, quiet=True)


def test_default_study_is_the_issue_s_moons_study() -> None:
  c = sweep.SweepConfig()
  assert (c.data, c.model.kind, c.model.widths, c.model.activation) == ("moons", "mlp", (12, 6, 1),
                                                                          "relu")
  assert c.schemes == ("zeros", "normal(stddev=10.0)", "he_normal") and c.seeds == tuple(range(32))
  assert c.train.batch_size is None  # full batch: zeros keeps the loss at exactly ln 2
  img = sweep.default_config("mnist", "mlp")
  assert img.model.widths == (128, 64, 10) and img.train.batch_size == 128
  with pytest.raises(ValueError, match="mlp model"):
    sweep.default_config("moons", "cnn")


def test_run_writes_records_tables_figures_and_run_record(small_run) -> None:
  folder, result = small_run
  record = result.record
  names = {p.name for p in folder.iterdir()}
  assert {"config.json", "members.json", "run.json", "records.jsonl", "checkpoints",
          "table.md", "table.tex", "table.csv", "loss_curves.png", "loss_curves.pdf",
          "decision_boundary_zeros.png", "decision_boundary_he_normal.png"} <= names
  rows = results.read_records(folder / "records.jsonl")
  assert len(rows) == 6 * 6 and {r["epoch"] for r in rows} == set(range(1, 7))
  run = json.loads((folder / "run.json").read_text())
  assert run["status"] == "finished" and run["epochs_done"] == 6 and run["members"] == 6
  assert run["environment"]["jax"] and run["wall_s"]["total"] > 0
  assert sweep.load_config(json.loads((folder / "config.json").read_text())) == SMALL
  # The table is the summary of the last epoch's records.
  last = [r for r in rows if r["epoch"] == 6]
  he = [r["test_acc"] for r in last if r["scheme"] == "he_normal"]
  table = {r["scheme"]: r for r in record["table"]}
  assert table["he_normal"]["test_acc_mean"] == pytest.approx(np.mean(he), abs=1e-12)
  # Minibatches move the zeros network's output bias a little off 0: ln 2 to 1e-3, not exactly.
  assert table["zeros"]["train_loss_mean"] == pytest.approx(math.log(2), abs=1e-3)
  csv_text = (folder / "table.csv").read_text()
  assert repr(float(np.mean(he)))[:10] in csv_text
  # What the terminal prints is table.md, byte for byte, and every header names its statistic.
  assert result.markdown == (folder / "table.md").read_text()
  header = result.markdown.splitlines()[0]
  assert header.count("mean ± 95% CI") == 4 and "n = 3 members per row" in result.markdown


def test_final_params_are_the_trained_members(small_run, tmp_path: Path) -> None:
  """The parameters read back give each member's recorded final test accuracy."""
  folder, _ = small_run
  params = sweep.final_params(folder)
  dataset = data.load(SMALL.data)
  logits = jax.vmap(lambda p: models.build(SMALL.model).apply({"params": p}, dataset.x_test))(params)
  acc = np.mean((np.asarray(logits)[..., 0] > 0) == dataset.y_test, axis=1)
  last = [r["test_acc"] for r in results.read_records(folder / "records.jsonl") if r["epoch"] == 6]
  np.testing.assert_allclose(acc, last, atol=1e-12)
  with pytest.raises(ValueError, match="no finished sweep"):
    sweep.final_params(tmp_path)


def test_results_load_is_the_records_as_a_data_frame(small_run, tmp_path: Path) -> None:
  """One row per record, the same values (NaN for null), the run's setting as columns, the caption
  naming the optimizer; a folder without records is a clear error."""
  folder, _ = small_run
  df = results.load(folder)
  rows = results.read_records(folder / "records.jsonl")
  assert list(df.columns[:len(results.RECORD_FIELDS)]) == list(results.RECORD_FIELDS)
  assert len(df) == len(rows) and df["diverged_epoch"].dtype == "Int64"
  for column in ("seed", "epoch", "test_acc", "train_loss", "lr"):
    np.testing.assert_array_equal(df[column].to_numpy(), [r[column] for r in rows])
  assert set(df["optimizer"]) == {SMALL.train.optimizer} and set(df["data"]) == {"moons"}
  assert df.attrs["config"]["train"]["epochs"] == 6 and df.attrs["run"]["status"] == "finished"
  last = df[df.epoch == df.epoch.max()].groupby("scheme").test_acc.mean()
  assert last["he_normal"] == pytest.approx(np.mean([r["test_acc"] for r in rows
                                                     if r["epoch"] == 6 and r["scheme"] ==
                                                     "he_normal"]), abs=1e-12)
  assert f"with {SMALL.train.optimizer}, lr 0.1" in (folder / "table.md").read_text()
  with pytest.raises(ValueError, match=r"has no records\.jsonl; accepted: a run folder"):
    results.load(tmp_path)


def test_loss_curves_draw_the_records(small_run) -> None:
  """The figure's lines are the per-epoch means of the records, one per scheme."""
  from jaxinit.results import plots
  folder, _ = small_run
  rows = results.read_records(folder / "records.jsonl")
  fig = plots.loss_curves(rows, folder / "check.png")
  train_ax = fig.axes[0]
  assert [ln.get_label() for ln in train_ax.lines] == ["zeros", "he_normal"]
  for line, scheme in zip(train_ax.lines, ("zeros", "he_normal"), strict=True):
    expected = [np.mean([r["train_loss"] for r in rows if r["scheme"] == scheme and r["epoch"] == e])
                for e in range(1, 7)]
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-12)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 7))


def _wait_for_epochs(path: Path, members: int, epochs: int, proc: subprocess.Popen,
                     timeout: float = 120.0) -> None:
  """Waits for ``epochs`` evaluations' records."""
  end = time.monotonic() + timeout
  while time.monotonic() < end:
    if path.exists() and path.read_bytes().count(b"\n") >= members * epochs:
      return
    if proc.poll() is not None:
      raise AssertionError(f"the sweep ended (rc {proc.returncode}) before epoch {epochs}")
    time.sleep(0.005)
  raise AssertionError(f"no epoch {epochs} in {path} after {timeout} s")


def _start(out: Path, *extra: str, name: str = "run", sigint: Any = signal.SIG_DFL
           ) -> subprocess.Popen:
  """``jaxinit sweep`` in a child process whose SIGINT disposition is ``sigint`` (a suite started
  in the background hands its children an ignored SIGINT; the test sets it either way)."""
  env = {**os.environ, "PYTHONPATH": str(ROOT)}
  # A child inherits an ignored signal and gets the default for a handled one (exec resets it).
  previous = signal.signal(signal.SIGINT, signal.default_int_handler if sigint == signal.SIG_DFL
                           else signal.SIG_IGN)
  try:
    return subprocess.Popen([sys.executable, "-m", "jaxinit.cli", "sweep", "--out", str(out),
                             "--name", name, *LONG_FLAGS, *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  finally:
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
  """The uninterrupted long run's records."""
  out = tmp_path_factory.mktemp("ref")
  assert cli.main(["sweep", "--out", str(out), "--name", "ref", *LONG_FLAGS]) == 0
  return results.read_records(out / "ref" / "records.jsonl")


def _assert_same_records(path: Path, reference: list[dict], every: int = 1) -> None:
  """The records are the uninterrupted every-epoch run's at the evaluation epochs (each
  ``every``-th and the last), bit for bit: a block of epochs in one compiled call trains as one
  epoch per call does."""
  resumed = results.read_records(path)
  expected = [r for r in reference if r["epoch"] % every == 0 or r["epoch"] == LONG_EPOCHS]
  assert len(resumed) == len(expected) == 8 * (LONG_EPOCHS // every + (LONG_EPOCHS % every > 0))
  key = lambda r: (r["epoch"], r["member"])
  for a, b in zip(sorted(resumed, key=key), sorted(expected, key=key), strict=True):
    assert a == b


@pytest.mark.parametrize("signum, sigint, every", [
    (signal.SIGINT, signal.SIG_DFL, 1),
    pytest.param(signal.SIGTERM, signal.SIG_IGN, 2, marks=pytest.mark.slow)])  # the other signal
def test_stop_signal_checkpoints_the_last_epoch_and_resume_continues(
    signum: int, sigint: Any, every: int, tmp_path: Path, reference: list[dict],
    capsys: pytest.CaptureFixture) -> None:
  """SIGINT (Ctrl-C) or SIGTERM (a batch scheduler) at a random epoch long before the first timed
  checkpoint (30 s): exit 128 + signal, a checkpoint of the last finished evaluation, run.json
  saying so; --resume says where it continues and ends with the uninterrupted run's records, bit
  for bit. The SIGTERM case evaluates every 2 epochs and runs with SIGINT ignored, as in a suite
  started in the background."""
  folder = tmp_path / "run"
  flags = ["--eval-every", str(every)]
  stop_after = int(np.random.default_rng(int(signum)).integers(3, 15))
  proc = _start(tmp_path, "--checkpoint-seconds", "30", *flags, sigint=sigint)
  _wait_for_epochs(folder / "records.jsonl", 8, stop_after, proc)
  proc.send_signal(signum)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 128 + signum, err
  assert "continue with --resume" in err
  run = json.loads((folder / "run.json").read_text())
  done = run["epochs_done"]
  assert run["status"] == "interrupted" and done >= stop_after * every
  assert run["checkpoint_epoch"] == done and done % every == 0
  assert (folder / "checkpoints" / str(done)).is_dir()
  assert len(results.read_records(folder / "records.jsonl")) == 8 * done // every
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "run", *LONG_FLAGS, *flags,
                   "--resume"]) == 0
  assert f"from epoch {done} of {LONG_EPOCHS}" in capsys.readouterr().err
  _assert_same_records(folder / "records.jsonl", reference, every)
  assert json.loads((folder / "run.json").read_text())["status"] == "finished"


@pytest.mark.slow  # a child process and a resume: ~15 s (the fast suite keeps the SIGINT case)
def test_kill_loses_only_the_epochs_since_the_last_checkpoint(tmp_path: Path,
                                                              reference: list[dict]) -> None:
  """kill -9 of a run evaluating every 3 epochs and checkpointing at every evaluation, then
  --resume: the every-epoch run's records at the evaluation epochs, bit for bit."""
  folder = tmp_path / "run"
  flags = ["--eval-every", "3"]
  proc = _start(tmp_path, "--checkpoint-seconds", "0", *flags)
  _wait_for_epochs(folder / "records.jsonl", 8, 7, proc)  # 7 evaluations: epoch 21
  proc.kill()
  proc.communicate(timeout=60)
  assert proc.returncode == -signal.SIGKILL
  run = json.loads((folder / "run.json").read_text())
  assert run["status"] == "running" and run["checkpoint_epoch"] >= 18
  assert run["checkpoint_epoch"] % 3 == 0
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "run", *LONG_FLAGS, *flags,
                   "--resume"]) == 0
  _assert_same_records(folder / "records.jsonl", reference, 3)


def test_a_run_stopped_before_its_first_epoch_leaves_nothing_that_blocks(tmp_path: Path) -> None:
  """A failure during setup removes the folder it made; a folder left by a kill before the first
  epoch (config.json, no records, no checkpoint) is started afresh by the same command."""
  bad = dataclasses.replace(SMALL, train=tr.TrainConfig(epochs=2, batch_size=1000))
  with pytest.raises(ValueError, match="larger than the training set"):
    sweep.run(bad, tmp_path / "a", quiet=True)
  assert not (tmp_path / "a").exists()
  (tmp_path / "b").mkdir()
  (tmp_path / "b" / "config.json").write_text("{}")
  (tmp_path / "b" / "run.json").write_text('{"status": "running", "epochs_done": 0}')
  small = dataclasses.replace(SMALL, train=tr.TrainConfig(epochs=1, batch_size=40))
  assert sweep.run(small, tmp_path / "b", quiet=True, figures=False).record["status"] == "finished"


def test_oversized_population_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
  """More members than memory: exit 2, one line with the estimate and what is available, and no
  run folder (the host is made to report 1 GB so the test does not depend on this machine)."""
  from jaxinit.engine import placement
  monkeypatch.setattr(placement, "host_available_bytes", lambda: 10**9)
  code = cli.main(["sweep", "--out", str(tmp_path), "--seeds", "100000", "--epochs", "1",
                   "--widths", "512,512,1", "--quiet"])
  err = capsys.readouterr().err
  assert code == 2, err
  line = err.strip().splitlines()[-1]
  assert re.search(r"jaxinit: error: a population of 300000 members needs about [\d.]+ GB of host "
                   r"memory .*; 1 GB is available", line), line
  assert not (tmp_path / "moons-mlp").exists()


@pytest.mark.parametrize("name", ["../x", "/tmp/x", "a/b", "..", ""])
def test_name_must_stay_inside_out(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
  code = cli.main(["sweep", "--out", str(tmp_path / "out"), "--name", name, "--epochs", "1",
                   "--seeds", "1", "--quiet"])
  assert code == 2 and "is not a folder name inside --out" in capsys.readouterr().err
  assert not (tmp_path / "x").exists() and not (tmp_path / "out").exists()


def test_fashion_mnist_named_over_mnist_files_is_refused(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
  mnist = os.environ.get("JAXINIT_DATA_DIR")
  if not mnist or not (Path(mnist) / "mnist").is_dir():
    pytest.skip("needs the real MNIST files: set JAXINIT_DATA_DIR to the shared datasets folder")
  code = cli.main(["sweep", "--data", "fashion_mnist", "--data-dir", str(Path(mnist) / "mnist"),
                   "--out", str(tmp_path), "--epochs", "1", "--seeds", "1", "--quiet"])
  err = capsys.readouterr().err
  assert code == 2 and "holds MNIST" in err and "not Fashion-MNIST" in err, err
  assert not any(tmp_path.iterdir())


def test_checkpoint_seconds_and_counts_are_range_checked(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
  for flag, value in (("--checkpoint-seconds", "-1"), ("--epochs", "0"),
                      ("--max-members-per-chunk", "0"), ("--order-seed", "-1")):
    code = cli.main(["sweep", "--out", str(tmp_path), flag, value, "--quiet"])
    assert code == 2 and f"{value} is out of range" in capsys.readouterr().err, flag


def test_cli_sweep_prints_the_accuracy_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
  code = cli.main(["sweep", "--out", str(tmp_path), "--schemes", "zeros,uniform(low=-1, high=1)",
                   "--seeds", "2", "--epochs", "3", "--quiet", "--lr", "0.1,0.05"])
  out, err = capsys.readouterr()
  assert code == 0, err
  head = ("| scheme | lr | train_loss mean ± 95% CI | train_acc (%) mean ± 95% CI | test_loss mean "
          "± 95% CI | test_acc (%) mean ± 95% CI | diverged |")
  assert head in out
  assert re.search(r"^\| zeros \| 0\.1 \| 0\.693 ± 0\.000 \| 50\.0 ± 0\.0 \| 0\.69\d ± 0\.00\d \| "
                   r"50\.0 ± 0\.0 \| 0/2 \|$", out, re.M), out
  assert (tmp_path / "moons-mlp" / "table.md").read_text() in out  # the terminal shows the file
  assert "uniform(low=-1.0, high=1.0)" in out
  assert (tmp_path / "moons-mlp" / "table.md").exists()


def test_cli_sweep_with_whole_network_schemes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
  """LSUV (data-dependent) and critical(tanh) through the CLI into a trained population (MetaInit's
  init, which costs 5 s more to compile here, is tested in test_datadep)."""
  code = cli.main(["sweep", "--out", str(tmp_path), "--activation", "tanh", "--schemes",
                   "lsuv,critical(tanh)", "--seeds", "2", "--epochs", "2", "--quiet", "--no-figures"])
  out, err = capsys.readouterr()
  assert code == 0, err
  for name in ("lsuv(tol=0.1, t_max=10, base=orthogonal)", "critical(tanh)"):
    assert f"| {name} |" in out


@pytest.mark.parametrize("argv, match", [
    (["--schemes", "he_normall"], "unknown scheme 'he_normall'"),
    (["--schemes", "critical(sigmoid)"], "sigmoid has no critical point"),
    (["--activation", "tanhh"], "unknown activation 'tanhh'"),
    (["--data", "cifar"], "unknown dataset 'cifar'"),
    (["--widths", "12,x,1"], "--widths must be comma-separated positive ints"),
    (["--widths", "12,0,1"], "widths must be positive ints"),
    (["--lr", "0"], "lr=0.0 is out of range"),
    (["--lr", "fast"], "--lr must be comma-separated numbers"),
    (["--seeds", "a:b"], "--seeds takes a count N"),
    (["--batch-size", "100000"], "larger than the training set"),
    (["--schemes", "normal(stddev=1"], "unbalanced parentheses"),
])
def test_cli_sweep_bad_input_is_a_clear_error(argv: list[str], match: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
  code = cli.main(["sweep", "--out", str(tmp_path), "--epochs", "1", "--seeds", "1", "--quiet",
                   *argv])
  _, err = capsys.readouterr()
  assert code == 2 and match in err, err


def test_existing_folder_is_not_overwritten(small_run, capsys: pytest.CaptureFixture) -> None:
  folder, _ = small_run
  files = lambda: {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
  before = files()
  argv = ["sweep", "--out", str(folder.parent), "--name", folder.name, "--epochs", "1", "--quiet"]
  assert cli.main(argv) == 2
  assert "already holds a run; pass --resume" in capsys.readouterr().err
  assert cli.main([*argv, "--resume"]) == 2  # a different config cannot be resumed
  assert "different config (differs in schemes, seeds, train)" in capsys.readouterr().err
  assert cli.main([*argv, "--resume", "--overwrite"]) == 2
  assert files() == before


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
  (tmp_path / "mine").mkdir()
  (tmp_path / "mine" / "thesis.tex").write_text("precious")
  with pytest.raises(ValueError, match="not a jaxinit run folder"):
    sweep.run(SMALL, tmp_path / "mine", overwrite=True, quiet=True)
  assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_image_sweep_through_idx_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
  """fashion_mnist from IDX files the test writes, through --data-dir, with the CNN."""
  import gzip
  rng = np.random.default_rng(0)
  folder = tmp_path / "idx" / "fashion_mnist"
  folder.mkdir(parents=True)
  for split, n in (("train", 40), ("t10k", 20)):
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
      header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
      (folder / f"{split}-{kind}-ubyte.gz").write_bytes(gzip.compress(header + array.tobytes()))
  code = cli.main(["sweep", "--data", "fashion-mnist", "--data-dir", str(tmp_path / "idx"),
                   "--model", "cnn", "--channels", "2", "--widths", "10", "--seeds", "2",
                   "--epochs", "2", "--batch-size", "10", "--out", str(tmp_path), "--quiet"])
  _, err = capsys.readouterr()
  assert code == 0, err
  rows = results.read_records(tmp_path / "fashion_mnist-cnn" / "records.jsonl")
  assert len(rows) == 3 * 2 * 2  # 3 default schemes x 2 seeds x 2 epochs
  # Accuracy is a count over the 20 test images.
  assert all(abs(r["test_acc"] * 20 - round(r["test_acc"] * 20)) < 1e-4 for r in rows)
  assert not (tmp_path / "fashion_mnist-cnn" / "decision_boundary_zeros.png").exists()
  assert (tmp_path / "fashion_mnist-cnn" / "loss_curves.png").exists()


def test_default_sweep_reproduces_the_readme_table(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
  """`jaxinit sweep` with no flags: the README's table, to 1 percentage point across CPUs."""
  readme = (ROOT / "README.md").read_text()
  expected = {}
  for scheme, train_acc, test_acc in re.findall(
      r"^\| (\S+) \| [\d.]+ ± [\d.]+ \| ([\d.]+) ± [\d.]+ \| [\d.]+ ± [\d.]+ \| ([\d.]+) ± "
      r"[\d.]+ \| 0/32 \|$", readme, re.M):
    expected[scheme] = (float(train_acc), float(test_acc))
  assert list(expected) == ["zeros", "normal(stddev=10.0)", "he_normal"]
  os.chdir(tmp_path)  # the default output folder is ./runs
  try:
    assert cli.main(["sweep", "--quiet"]) == 0
  finally:
    os.chdir(ROOT)
  table = {r["scheme"]: r for r in json.loads(
      (tmp_path / "runs" / "moons-mlp" / "run.json").read_text())["table"]}
  for scheme, (train_acc, test_acc) in expected.items():
    assert 100 * table[scheme]["train_acc_mean"] == pytest.approx(train_acc, abs=1.0)
    assert 100 * table[scheme]["test_acc_mean"] == pytest.approx(test_acc, abs=1.0)
  assert table["zeros"]["train_loss_mean"] == pytest.approx(math.log(2), abs=1e-6)
  assert "| he_normal |" in capsys.readouterr().out
