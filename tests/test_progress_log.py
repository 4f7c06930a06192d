"""Where researchers watch a sweep: progress lines in a log file while it runs, and the optional
TensorBoard mirror of the records' per-group aggregates."""

import json
import math
import os
import re
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxinit import cli
from jaxinit.results import metric_writer
from jaxinit.studies import sweep

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^epoch (\d+)/(\d+)  members alive (\d+)/(\d+)  train loss best \S+ median \S+  "
                  r"elapsed \d+:\d\d:\d\d  eta (-|\d+:\d\d:\d\d)$")


def test_progress_line_formats_fixed_numbers():
  metrics = np.array([[0.5, 0.9, 0.6, 0.8], [np.nan] * 4, [0.0123, 1.0, 0.02, 1.0],
                      [0.0456, 1.0, 0.05, 1.0], [0.0789, 1.0, 0.08, 1.0]])
  assert sweep.progress_line(40, 200, metrics, 83.4, 309.6) == (
      "epoch 40/200  members alive 4/5  train loss best 0.0123 median 0.06225  elapsed 0:01:23  "
      "eta 0:05:10")
  assert sweep.progress_line(1, 200, metrics, 7.0, None).endswith("elapsed 0:00:07  eta -")
  assert sweep.progress_line(3, 3, np.full((2, 4), np.nan), 3725, 0) == (
      "epoch 3/3  members alive 0/2  elapsed 1:02:05  eta 0:00:00")


def test_log_lines_come_at_the_first_and_last_epoch_and_every_interval(capsys, monkeypatch):
  """With a clock advancing 1 s an epoch after a 5 s first block and lines every 10 s: epochs 1,
  11, 21, ..., 91 and 100, each eta from the epochs after the first."""
  now = [0.0]
  monkeypatch.setattr(sweep.time, "perf_counter", lambda: now[0])
  update = sweep._progress(100, 0, False, 0.0, seconds=10.0)
  metrics = np.array([[1.0, 0.5, 1.0, 0.5], [2.0, 0.5, 2.0, 0.5]])
  for epoch in range(1, 101):
    now[0] = 4.0 + epoch
    update(epoch, metrics)
  lines = capsys.readouterr().err.splitlines()
  parsed = [LINE.match(line) for line in lines]
  assert all(parsed), lines
  assert [int(m[1]) for m in parsed] == [1, *range(11, 100, 10), 100]
  assert lines[0].endswith("elapsed 0:00:05  eta -")
  assert lines[1].endswith("elapsed 0:00:15  eta 0:01:29")  # 10 s for 10 epochs; 89 to go


def test_quiet_writes_no_progress_line(capsys):
  update = sweep._progress(5, 0, True, 0.0)
  update(5, np.zeros((2, 4)))
  assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_a_sweep_with_stderr_in_a_file_writes_progress_lines_while_it_runs(tmp_path):
  """``jaxinit sweep ... 2> log``: a progress line is in the file while the sweep still trains;
  at the end the last epoch's line closes it, with no more lines than the interval allows."""
  epochs = 400  # 8 members, 400 one-example steps an epoch: seconds after the first line
  log = tmp_path / "log"
  env = {**os.environ, "PYTHONPATH": str(ROOT)}
  with log.open("w") as err:
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxinit.cli", "sweep", "--out", str(tmp_path), "--name", "run",
         "--schemes", "he_normal,glorot_uniform", "--seeds", "4", "--epochs", str(epochs),
         "--batch-size", "1", "--lr", "0.01", "--no-figures"],
        env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
      end = time.monotonic() + 120
      while not any(LINE.match(line) for line in log.read_text().splitlines()):
        assert proc.poll() is None, f"the sweep ended (rc {proc.returncode}) before a progress line"
        assert time.monotonic() < end, "no progress line after 120 s"
        time.sleep(0.02)
      assert proc.poll() is None, "the progress line came only at the end"
      first = next(line for line in log.read_text().splitlines() if LINE.match(line))
      assert first.startswith(f"epoch 1/{epochs}  members alive 8/8") and first.endswith("eta -")
      assert proc.wait(timeout=300) == 0
    finally:
      proc.kill()
  seconds = time.monotonic() - t0
  lines = [line for line in log.read_text().splitlines() if LINE.match(line)]
  assert lines[-1].startswith(f"epoch {epochs}/{epochs}") and lines[-1].endswith("eta 0:00:00")
  assert len(lines) <= 2 + seconds / sweep.PROGRESS_SECONDS, lines
  epochs_seen = [int(LINE.match(line)[1]) for line in lines]
  assert epochs_seen == sorted(epochs_seen)


def _events(path: Path, starts: list[int] | None = None) -> dict[str, dict[int, float]]:
  """An event file's scalars, ``{tag: {step: value}}`` (a later event at a step replaces an earlier
  one), read from the TFRecord framing: u64 length, u32 masked CRC of it, payload, u32 masked CRC;
  the steps of its session starts (TensorBoard's purge markers) are appended to ``starts``."""
  from tensorboardX.proto.event_pb2 import Event, SessionLog
  from tensorboardX.record_writer import masked_crc32c

  data, at, out = path.read_bytes(), 0, {}
  while at < len(data):
    header = data[at:at + 8]
    (length,), (crc,) = struct.unpack("<Q", header), struct.unpack("<I", data[at + 8:at + 12])
    payload = data[at + 12:at + 12 + length]
    assert crc == masked_crc32c(header)
    assert struct.unpack("<I", data[at + 12 + length:at + 16 + length])[0] == masked_crc32c(payload)
    at += 16 + length
    event = Event.FromString(payload)
    if event.HasField("session_log") and event.session_log.status == SessionLog.START:
      (starts if starts is not None else []).append(event.step)
    for value in event.summary.value:
      out.setdefault(value.tag, {})[event.step] = value.simple_value
  return out


def _record(scheme: str, lr: float, epoch: int, loss: float, acc: float, diverged: bool) -> dict:
  return {"scheme": scheme, "lr": lr, "epoch": epoch, "train_loss": loss, "train_acc": acc,
          "test_loss": 2 * loss, "test_acc": acc / 2, "diverged": diverged}


def test_tensorboard_writer_writes_each_groups_mean_median_and_diverged_fraction(tmp_path):
  """Fixed records of two epochs, two groups: the event files hold the hand-computed aggregates;
  a resumed writer marks its first step for TensorBoard to purge and appends a second file."""
  pytest.importorskip("tensorboardX")
  nan = float("nan")
  epoch1 = [_record("a", 0.1, 1, x, 0.5, False) for x in (1.0, 2.0, 6.0)] + [
      _record("a", 1.0, 1, nan, nan, True), _record("a", 1.0, 1, 3.0, 1.0, False)]
  epoch2 = [_record("a", 0.1, 2, x, 1.0, False) for x in (0.5, 1.0, 4.0)] + [
      _record("a", 1.0, 2, nan, nan, True), _record("a", 1.0, 2, nan, nan, True)]
  with metric_writer.TensorBoard(tmp_path, ("scheme", "lr")) as writer:
    writer.write(epoch1)
    writer.write(epoch2)
  low, high = tmp_path / "tensorboard" / "a_lr=0.1", tmp_path / "tensorboard" / "a_lr=1"
  starts: list[int] = []
  (file,) = low.iterdir()
  scalars = _events(file, starts)
  assert starts == [1]
  assert scalars["train_loss/mean"] == {1: 3.0, 2: pytest.approx(5.5 / 3)}
  assert scalars["train_loss/median"] == {1: 2.0, 2: 1.0}
  assert scalars["test_loss/median"] == {1: 4.0, 2: 2.0}
  assert scalars["test_acc/mean"] == {1: 0.25, 2: 0.5}
  assert scalars["diverged/fraction"] == {1: 0.0, 2: 0.0}
  scalars = _events(next(high.iterdir()))
  assert scalars["train_loss/mean"] == {1: 3.0}  # nothing finite at epoch 2: no point
  assert scalars["diverged/fraction"] == {1: 0.5, 2: 1.0}
  with metric_writer.TensorBoard(tmp_path, ("scheme", "lr"), start=1) as writer:
    writer.write([dict(r, train_loss=r["train_loss"] + 1) for r in epoch2])
  files = sorted(low.iterdir())
  assert len(files) == 2 and _events(files[0])["train_loss/mean"][1] == 3.0
  starts = []
  assert _events(files[1], starts)["train_loss/mean"] == {2: pytest.approx(8.5 / 3)}
  assert starts == [2]  # TensorBoard hides the first file's events from step 2 on


@pytest.mark.slow
def test_log_tensorboard_mirrors_the_records_aggregates(tmp_path, capsys):
  """Per (scheme, lr) group and evaluated epoch: mean and median over the finite members of each
  metric and the fraction diverged, as computed here from records.jsonl (float32 in the file)."""
  pytest.importorskip("tensorboardX")
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "run", "--schemes",
                   "he_normal,normal(stddev=10.0)", "--seeds", "4", "--lr", "0.1,1e6", "--epochs",
                   "4", "--eval-every", "2", "--no-figures", "--quiet", "--log", "tensorboard"]) == 0
  capsys.readouterr()
  folder = tmp_path / "run"
  records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
  names = {("he_normal", 0.1): "he_normal_lr=0.1", ("he_normal", 1e6): "he_normal_lr=1e+06",
           ("normal(stddev=10.0)", 0.1): "normal_stddev=10.0_lr=0.1",
           ("normal(stddev=10.0)", 1e6): "normal_stddev=10.0_lr=1e+06"}
  assert sorted(p.name for p in (folder / "tensorboard").iterdir()) == sorted(names.values())
  assert any(r["diverged"] for r in records) and not all(r["diverged"] for r in records)
  checked = 0
  for (scheme, lr), name in names.items():
    files = list((folder / "tensorboard" / name).glob("events.out.tfevents.*"))
    assert len(files) == 1
    scalars = _events(files[0])
    for epoch in (2, 4):
      rows = [r for r in records if (r["scheme"], r["lr"], r["epoch"]) == (scheme, lr, epoch)]
      assert len(rows) == 4
      assert scalars["diverged/fraction"][epoch] == pytest.approx(
          sum(r["diverged"] for r in rows) / 4, rel=1e-6)
      for metric in ("train_loss", "train_acc", "test_loss", "test_acc"):
        values = [r[metric] for r in rows if r[metric] is not None and math.isfinite(r[metric])]
        for stat, reduce in (("mean", statistics.fmean), ("median", statistics.median)):
          tag = f"{metric}/{stat}"
          if values:
            assert scalars[tag][epoch] == pytest.approx(reduce(values), rel=1e-6), (name, tag)
            checked += 1
          else:
            assert epoch not in scalars.get(tag, {}), (name, tag)
    assert set(scalars["train_loss/mean"]) <= {2, 4}  # evaluated epochs only
  assert checked >= 40


def test_log_tensorboard_without_its_package_is_one_line_before_the_folder(tmp_path, capsys,
                                                                            monkeypatch):
  monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import tensorboardX raises ImportError
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "run", "--log", "tensorboard"]) == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("jaxinit: error: --log tensorboard needs")
  assert "pip install tensorboardX" in lines[0]
  assert not (tmp_path / "run").exists()
