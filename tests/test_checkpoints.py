"""Orbax checkpoints of a sweep (jaxinit.engine.checkpoints): one folder per epoch, complete or
absent, the newest N kept, the padded sharded state restored where it trains, the earlier
``checkpoint.msgpack`` still resumed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import flax.serialization
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxinit import cli
from jaxinit.engine import checkpoints, placement
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.results import folders
from jaxinit.studies import sweep

ROOT = Path(__file__).resolve().parents[1]
TINY = sweep.SweepConfig(model=models.ModelConfig(widths=(4, 1)), schemes=("he_normal",),
                         seeds=tuple(range(17)), train=tr.TrainConfig(epochs=6))


def _state(m: int, count: int) -> tr.TrainState:
  """A trained-looking state of ``m`` members padded to ``count`` (random values)."""
  members = pop.grid(("he_normal",), tuple(range(m)), (0.1,), (0.9,), (1.0,))
  state = tr.init_state(models.ModelConfig(widths=(4, 1)), tr.TrainConfig(epochs=1), members,
                        np.zeros((4, 2), np.float32), count)
  rng = np.random.default_rng(0)
  return jax.tree.map(lambda x: jax.device_put(rng.normal(size=x.shape).astype(x.dtype)), state)


def _steps(folder: Path) -> list[str]:
  return sorted((p.name for p in folder.iterdir()), key=lambda n: (not n.isdigit(), len(n), n))


def _same(a: tr.TrainState, b: tr.TrainState) -> None:
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_a_save_that_fails_half_way_leaves_the_previous_epoch(tmp_path: Path, monkeypatch) -> None:
  """An error after the arrays of epoch 2 are written but before Orbax renames its temporary
  folder: epoch 1 is still the newest, restores bit for bit, and the leftover is removed."""
  state1, state2 = _state(3, 4), jax.tree.map(lambda x: x + 1, _state(3, 4))
  write = ocp.StandardCheckpointHandler.async_save

  async def fails(self, directory, *args, **kwargs):
    for future in await write(self, directory, *args, **kwargs) or []:
      future.result()
    raise RuntimeError("killed half-way")

  with checkpoints.Checkpoints(tmp_path / "ck") as store:
    store.save(1, state1, 3)
    monkeypatch.setattr(ocp.StandardCheckpointHandler, "async_save", fails)
    with pytest.raises(RuntimeError, match="killed half-way"):
      store.save(2, state2, 3)
    monkeypatch.undo()
  assert _steps(tmp_path / "ck") == ["1", "2.orbax-checkpoint-tmp"]
  with checkpoints.Checkpoints(tmp_path / "ck") as store:
    assert store.latest() == 1
    epoch, state = store.restore(state1, 3, jax.sharding.SingleDeviceSharding(jax.devices()[0]))
  assert epoch == 1 and _steps(tmp_path / "ck") == ["1"]
  assert all(isinstance(x, jax.Array) for x in jax.tree.leaves(state))
  _same(state, state1)


def test_another_padding_is_read_on_the_host_and_another_population_refused(tmp_path: Path
                                                                           ) -> None:
  """Saved padded to 4 (e.g. 4 devices), restored for 8: the 3 members as host arrays (the engine
  pads them again); a run of 2 members is refused in one line saying what to do."""
  state = _state(3, 4)
  with checkpoints.Checkpoints(tmp_path / "ck") as store:
    store.save(5, state, 3)
    epoch, host = store.restore(_state(3, 8), 3, jax.sharding.SingleDeviceSharding(jax.devices()[0]))
    assert epoch == 5 and all(isinstance(x, np.ndarray) for x in jax.tree.leaves(host))
    _same(host, jax.tree.map(lambda x: np.asarray(x)[:3], state))
    with pytest.raises(ValueError, match=r"holds 3 members, this run 2; resume with the config it "
                                         r"was run with, or --overwrite$"):
      store.restore(state, 2, None)


def test_keep_holds_the_newest_epochs_and_a_msgpack_folder_resumes_into_orbax(
    tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
  """17 members (trained padded to their bucket of 18), saved after every epoch with keep 4: the
  folders of epochs 3..6 only, and final_params gives back the 17 in order. The same run stopped at
  epoch 3 by an earlier version (``checkpoint.msgpack``, no checkpoints/) resumes from it and ends
  with the records of the run never stopped, byte for byte; its first Orbax save removes the
  msgpack file."""
  assert placement.bucket(TINY.size) == 18
  whole = sweep.run(TINY, tmp_path / "whole", quiet=True, figures=False, checkpoint_seconds=0,
                    keep_checkpoints=4)
  home = folders.RunFolder(whole.folder)
  assert _steps(home.checkpoints) == ["3", "4", "5", "6"] and not home.legacy_checkpoint.exists()
  template = tr.init_state(TINY.model, TINY.train, TINY.members(), np.zeros((4, 2), np.float32), 18)
  with checkpoints.Checkpoints(home.checkpoints) as store:
    epoch, padded = store.restore(template, 17, None)
  params = sweep.final_params(home.path)
  assert epoch == 6 and params["layer_0"]["kernel"].shape == (17, 2, 4)
  _same(params, jax.tree.map(lambda x: np.asarray(x)[:17], padded.params))
  _same(jax.tree.map(lambda x: x[0], params),
        jax.tree.map(lambda x: np.asarray(x)[17], padded.params))  # the pad: member 0's copy

  old = folders.RunFolder(tmp_path / "old")
  shutil.copytree(home.path, old.path)
  for epoch in (4, 5, 6):
    shutil.rmtree(old.checkpoints / str(epoch))
  with checkpoints.Checkpoints(old.checkpoints) as store:
    epoch, state = store.restore(template, 17, None)
  assert epoch == 3
  old.legacy_checkpoint.write_bytes(flax.serialization.to_bytes(  # what earlier versions wrote
      {"epoch": epoch, "state": jax.tree.map(lambda x: np.asarray(x)[:17], state)}))
  shutil.rmtree(old.checkpoints)
  record = json.loads(old.run.read_text())
  old.write_run({**record, "status": "running", "epochs_done": 4, "checkpoint_epoch": 3})
  resumed = sweep.run(TINY, old.path, resume=True, quiet=True, figures=False)
  assert resumed.resumed_from == 3 and not old.legacy_checkpoint.exists()
  assert _steps(old.checkpoints) == ["6"]  # saved at the end (checkpoint_seconds 30)
  assert old.records.read_bytes() == home.records.read_bytes()
  with pytest.raises(ValueError, match=r"keep=0 checkpoints; accepted: an int >= 1"):
    sweep.run(TINY, tmp_path / "other", keep_checkpoints=0)
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "other", "--keep-checkpoints", "0"]) == 2
  assert "0 is out of range" in capsys.readouterr().err
  assert not (tmp_path / "other").exists()


def _sweep_process(out: Path, *flags: str) -> subprocess.Popen:
  env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
  return subprocess.Popen([sys.executable, "-m", "jaxinit.cli", "sweep", "--out", str(out), *flags],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


KILL_FLAGS = ["--widths", "8,1", "--schemes", "he_normal,glorot_uniform", "--seeds", "4",
              "--epochs", "60", "--quiet", "--no-figures", "--checkpoint-seconds", "0"]


@pytest.mark.slow
def test_sigkill_during_a_save_keeps_the_last_complete_epoch_and_resume_is_exact(tmp_path: Path
                                                                                ) -> None:
  """kill -9 while Orbax writes an epoch (its temporary folder exists): run.json names a complete
  epoch, and --resume ends with the records of a run never stopped, byte for byte. (Slow: a
  child process, ~10 s.)"""
  proc = _sweep_process(tmp_path, "--name", "cut", *KILL_FLAGS)
  folder = folders.RunFolder(tmp_path / "cut")
  end = time.monotonic() + 120
  while not (folder.checkpoints.is_dir() and any(
      "tmp" in p.name and p.name.split(".")[0] not in ("", "1", "2")
      for p in folder.checkpoints.iterdir())):
    assert proc.poll() is None and time.monotonic() < end, proc.communicate()[1][-2000:]
    time.sleep(0.002)
  proc.send_signal(signal.SIGKILL)
  proc.communicate(timeout=60)
  assert any("tmp" in name for name in _steps(folder.checkpoints))  # killed half-way
  named = json.loads(folder.run.read_text())["checkpoint_epoch"]
  assert named >= 2 and (folder.checkpoints / str(named) / "_CHECKPOINT_METADATA").is_file()
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "cut", "--resume", *KILL_FLAGS]) == 0
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "whole", *KILL_FLAGS]) == 0
  assert folder.records.read_bytes() == (tmp_path / "whole" / "records.jsonl").read_bytes()
  assert not any("tmp" in p.name for p in folder.checkpoints.iterdir())


SHARDED = textwrap.dedent("""
    import sys
    import jax, numpy as np
    from jax.experimental import multihost_utils
    from jaxinit.engine import checkpoints, placement, sharding
    from jaxinit.engine import population as pop, train as tr
    from jaxinit.nets import models
    members = pop.grid(("he_normal",), (0, 1, 2, 3, 4), (0.1,), (0.9,), (1.0,))
    plan = placement.plan(5, sharding.population_mesh())
    state = tr.init_state(models.ModelConfig(widths=(4, 1)), tr.TrainConfig(epochs=1), members,
                          np.zeros((4, 2), np.float32), plan.count)
    placed = sharding.shard(state, plan.mesh)
    def refused(*args, **kwargs):
      raise AssertionError("gathered on the host")
    multihost_utils.process_allgather = refused
    with checkpoints.Checkpoints(sys.argv[1]) as store:
      store.save(1, placed, 5)
      epoch, back = store.restore(state, 5, checkpoints.target_sharding(plan))
    target = checkpoints.target_sharding(plan)
    assert all(x.sharding == target for x in jax.tree.leaves(back))
    again = sharding.shard(back, plan.mesh)
    assert all(a is b for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(back)))
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(state)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    print(plan.count, len(jax.devices()))
""")


@pytest.mark.slow
def test_a_sharded_population_restores_into_its_shardings(tmp_path: Path) -> None:
  """4 simulated devices, 5 members padded to 8 and sharded: saved and restored into the same
  NamedSharding, values equal, and the engine's placement keeps the restored arrays as they are
  (no gather, no copy). (Slow: a child process.)"""
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
         "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
  done = subprocess.run([sys.executable, "-c", SHARDED, str(tmp_path / "ck")], env=env,
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert done.stdout.split() == ["8", "4"]


@pytest.mark.slow
def test_two_processes_write_their_own_shards_and_resume_together(tmp_path: Path) -> None:
  """Two processes (two CPU devices each, gloo): each writes its shards into the run folder's
  checkpoint (one OCDBT folder per process); the two resume it together (a collective restore,
  nothing left to train) and final_params equals a one-process run's to float rounding."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  flags = ["--widths", "8,1", "--schemes", "he_normal,zeros,normal(stddev=0.5)", "--seeds", "3,",
           "--epochs", "3", "--batch-size", "100", "--quiet", "--no-figures", "--name", "two"]
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
         "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}

  def together(*extra: str) -> None:
    procs = [subprocess.Popen(
        [sys.executable, "-m", "jaxinit.cli", "sweep", "--coordinator", f"127.0.0.1:{port}",
         "--num-processes", "2", "--process-id", str(i), "--out", str(tmp_path), *flags, *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
      _, err = p.communicate(timeout=600)
      assert p.returncode == 0, err[-3000:]

  together()
  step = tmp_path / "two" / "checkpoints" / "3" / "default"
  assert {"ocdbt.process_0", "ocdbt.process_1"} <= {p.name for p in step.iterdir()}
  together("--resume")
  assert json.loads((tmp_path / "two" / "run.json").read_text())["resumed_from_epoch"] == 3
  one = [f if f != "two" else "one" for f in flags]
  assert cli.main(["sweep", "--out", str(tmp_path), *one]) == 0
  for a, b in zip(jax.tree.leaves(sweep.final_params(tmp_path / "two")),
                  jax.tree.leaves(sweep.final_params(tmp_path / "one")), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
