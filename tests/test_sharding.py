"""The model axis over several devices, padding and chunking (jaxinit.engine.sharding, train.run)."""

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinit import data
from jaxinit.engine import placement, sharding
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import models


def test_padding_arithmetic_and_round_trip():
  assert [sharding.padded_count(m, 8) for m in (1, 5, 8, 9, 17)] == [8, 8, 8, 16, 24]
  tree = {"a": jnp.arange(10.0).reshape(5, 2), "b": jnp.arange(5)}
  padded = sharding.pad(tree, 8)
  assert padded["a"].shape == (8, 2)
  np.testing.assert_array_equal(padded["a"][5:], np.repeat(tree["a"][:1], 3, axis=0))
  jax.tree.map(np.testing.assert_array_equal, sharding.unpad(padded, 5), tree)
  with pytest.raises(ValueError, match="5 members do not fit in 4"):
    sharding.pad(tree, 4)
  with pytest.raises(ValueError, match="accepted: both >= 1"):
    sharding.padded_count(0, 8)


def test_one_device_needs_no_mesh_and_chunk_sizing():
  assert sharding.population_mesh(jax.devices()[:1]) is None
  assert placement.free_bytes() is None  # the CPU reports no memory limit
  assert placement.members_that_fit(1000, None) is None
  assert placement.members_that_fit(1000, 10_000, devices=2) == 10  # half of 10 kB / 1 kB, x 2
  assert placement.members_that_fit(10**9, 10_000) == 1
  assert placement.host_available_bytes() > 0  # the CPU's chunks are sized from the host instead


def test_plan_buckets_chunks_and_refuses_what_cannot_fit(monkeypatch: pytest.MonkeyPatch):
  """Populations are padded to a bucket (four significant bits), chunks are a multiple of the
  device count, and a population whose state exceeds the host memory is refused up front."""
  assert [placement.bucket(m) for m in (1, 15, 16, 17, 19, 100, 1000, 4097)] == [
      1, 15, 16, 18, 20, 104, 1024, 4608]
  assert all(m <= placement.bucket(m) <= 1.125 * m for m in range(1, 5000))
  assert placement.plan(19) == placement.Plan(19, 20, 20, None)
  assert placement.plan(19, max_members_per_chunk=8) == placement.Plan(19, 24, 8, None)
  cfg, train_cfg = models.ModelConfig(widths=(128, 64, 10)), tr.TrainConfig(batch_size=128)
  need = placement.member_bytes(cfg, train_cfg, (784,), 60000)
  monkeypatch.setattr(placement, "host_available_bytes", lambda: 1000 * need.total)
  fits = placement.plan_population(cfg, train_cfg, 100, (784,), 60000, mesh=None)
  assert fits == placement.Plan(100, 104, 104, None)
  chunked = placement.plan_population(cfg, train_cfg, 600, (784,), 60000, mesh=None)
  assert chunked.chunk == 500 and chunked.count == 1000  # half the memory per chunk
  with pytest.raises(ValueError, match=r"a population of 5000 members needs about .* GB of host "
                     r"memory .* is available; train fewer members"):
    placement.plan_population(cfg, train_cfg, 5000, (784,), 60000, mesh=None)


def test_member_bytes_counts_parameters_and_activations():
  cfg = models.ModelConfig(widths=(128, 64, 10))
  params = 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
  per_example = 2 * (128 + 64 + 10)  # each dense layer's output and the nonlinearity's
  est = placement.member_bytes(cfg, tr.TrainConfig(batch_size=128), (784,), 60000)
  assert est.state == 4 * 2 * params  # parameters and momentum, kept between epochs
  assert est.total == 4 * (3 * params + 2 * 128 * per_example)  # + gradients and activations
  full = placement.member_bytes(cfg, tr.TrainConfig(batch_size=None), (784,), 1000)
  assert full.total == 4 * (3 * params + 2 * 1000 * per_example)


def test_chunked_training_equals_unchunked():
  """7 members in chunks of 3 (3 chunks, 2 padding members) give the metrics and parameters of
  the unchunked run, to float rounding (1e-5: vmapped batches of different sizes round apart)."""
  dd = tr.device_data(data.load("moons"))
  cfg = models.ModelConfig(widths=(8, 8, 1))
  members = pop.grid(["he_normal", "lsuv", "normal(stddev=0.3)"], seeds=[0, 1], lrs=[0.1])
  members = (*members, pop.Member("zeros", seed=4, lr=0.05))
  train_cfg = tr.TrainConfig(epochs=3, batch_size=100)
  whole = [(np.asarray(m), jax.tree.map(np.asarray, s))  # copied: the state's buffers are donated
           for _, s, m in tr.run(cfg, train_cfg, members, dd)]
  plan = placement.plan(len(members), max_members_per_chunk=3)
  chunked = [(m, s) for _, s, m in tr.run(cfg, train_cfg, members, dd, plan=plan)]
  assert len(chunked) == 3
  for (m1, s1), (m2, s2) in zip(whole, chunked, strict=True):
    assert m2.shape == (7, 4)
    np.testing.assert_allclose(m1, m2, rtol=1e-5, atol=1e-6)
    assert jax.tree.leaves(s2)[0].shape[0] == 9  # padded to 3 chunks of 3
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b[:7], rtol=1e-5, atol=1e-6),
                 sharding.unpad(s1, 7), s2)
  with pytest.raises(ValueError, match="max_members_per_chunk=0"):
    placement.plan(len(members), max_members_per_chunk=0)


SCRIPT = textwrap.dedent("""
    import json, sys
    import jax
    from jaxinit.engine import train as tr
    from jaxinit.nets import models
    from jaxinit.studies import sweep
    out, runs = sys.argv[1], [r.split(":") for r in sys.argv[2].split(",")]
    base = sweep.SweepConfig(model=models.ModelConfig(widths=(8, 1)),
                             train=tr.TrainConfig(epochs=3, batch_size=100), lrs=(0.1,))
    configs = {"prime": dict(schemes=("he_normal", "lsuv", "normal(stddev=0.5)", "zeros", "uniform"),
                             seeds=(3,)),
               "one": dict(schemes=("he_normal",), seeds=(7,)),
               "eleven": dict(schemes=("he_normal",), seeds=tuple(range(11)))}
    chunks = {}
    for name, chunk in runs:
      fields = configs[name]
      record = sweep.run(sweep.SweepConfig(**{**base.__dict__, **fields}), f"{out}/{name}",
                         quiet=True, figures=False,
                         max_members_per_chunk=None if chunk == "all" else int(chunk)).record
      assert record["status"] == "finished"
      chunks[name] = record["members_per_chunk"]
    print(json.dumps({"devices": jax.device_count(), "chunks": chunks}))
""")


def _sweeps(tmp_path: Path, devices: int, runs: str) -> tuple[dict, Path]:
  """Sweeps in one process on ``devices`` simulated CPU devices; ``runs`` is ``name:chunk,...``
  (``chunk``: members per chunk, or ``all``)."""
  env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
         "JAX_PLATFORMS": "cpu"}
  out = tmp_path / f"d{devices}"
  done = subprocess.run([sys.executable, "-c", SCRIPT, str(out), runs], env=env,
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  return json.loads(done.stdout.strip().splitlines()[-1]), out


def _records(folder: Path) -> dict[tuple[int, int], dict]:
  rows = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
  return {(r["member"], r["epoch"]): r for r in rows}


@pytest.mark.slow
def test_eight_simulated_devices_give_the_records_of_one(tmp_path):
  """Sweeps of 5 members (prime), 1 member and 11 members (8 devices, and 8 devices in chunks
  of 8: two chunks, 5 padding members) write the same records as on one device, to float
  rounding, and no padding member ever reaches a record.

  Slow (two subprocesses, ~20 s): in the fast suite, the two-process test below shards a padded
  population over a mesh of 4 devices and checks its records the same way.
  """
  info1, one = _sweeps(tmp_path, 1, "prime:all,one:all,eleven:all")
  info8, eight = _sweeps(tmp_path, 8, "prime:all,one:all,eleven:8")
  assert (info1["devices"], info8["devices"], info8["chunks"]["eleven"]) == (1, 8, 8)
  for name, members in (("prime", 5), ("one", 1), ("eleven", 11)):
    reference = _records(one / name)
    assert sorted(reference) == [(k, e) for k in range(members) for e in (1, 2, 3)]
    rows = _records(eight / name)
    assert sorted(rows) == sorted(reference)  # no padding member, nothing missing
    for key, row in reference.items():
      assert rows[key]["scheme"] == row["scheme"] and rows[key]["seed"] == row["seed"]
      for metric in tr.METRICS:
        assert math.isclose(rows[key][metric], row[metric], rel_tol=1e-5, abs_tol=1e-6), (
            name, key, metric)
    run = json.loads((eight / name / "run.json").read_text())
    assert run["devices"] == 8 and run["environment"]["device_count"] == 8


SWEEP_FLAGS = ["--widths", "8,1", "--schemes", "he_normal,zeros,normal(stddev=0.5)", "--seeds", "3,",
               "--epochs", "3", "--batch-size", "100", "--lr", "0.1", "--quiet", "--no-figures"]


@pytest.mark.slow  # two processes start, compile and join: ~25 s of the fast suite
def test_two_processes_share_one_mesh_and_process_0_writes_the_records(tmp_path, capsys):
  """`jaxinit sweep --coordinator ... --num-processes 2 --process-id i` in two local processes
  (gloo CPU collectives), two CPU devices each: one mesh of 4 devices for 3 members (one padding
  member). Only process 0 writes the run folder (figures included), and its records equal a
  one-device run's, to float rounding. (A data-dependent scheme on a mesh: the slow 8-device
  test's LSUV member.)"""
  import socket

  from jaxinit import cli

  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
         "JAX_PLATFORMS": "cpu"}
  procs = [subprocess.Popen(
      [sys.executable, "-m", "jaxinit.cli", "sweep", "--coordinator", f"127.0.0.1:{port}",
       "--num-processes", "2", "--process-id", str(i), "--out", str(tmp_path), "--name", "two",
       *SWEEP_FLAGS[:-1]], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for i in range(2)]
  outputs = [p.communicate(timeout=600) for p in procs]
  for p, (_, stderr) in zip(procs, outputs, strict=True):
    assert p.returncode == 0, stderr[-3000:]
  assert cli.main(["sweep", "--out", str(tmp_path), "--name", "one", *SWEEP_FLAGS]) == 0
  reference, rows = _records(tmp_path / "one"), _records(tmp_path / "two")
  assert sorted(rows) == sorted(reference) == [(k, e) for k in range(3) for e in (1, 2, 3)]
  for key, row in reference.items():
    for metric in tr.METRICS:
      assert math.isclose(rows[key][metric], row[metric], rel_tol=1e-5, abs_tol=1e-6)
  run = json.loads((tmp_path / "two" / "run.json").read_text())
  assert run["devices"] == 4 and run["environment"]["process_count"] == 2
  # Figures on: process 1 joins the gather they need, process 0 draws them.
  assert run["status"] == "finished" and "loss_curves.png" in run["figures"]
  assert all((tmp_path / "two" / name).is_file() for name in run["figures"])
  assert "| he_normal |" in outputs[0][0] and "| he_normal |" in outputs[1][0]


def test_distributed_flags_go_together(capsys):
  from jaxinit import cli

  assert cli.main(["sweep", "--coordinator", "127.0.0.1:1", "--epochs", "1"]) == 2
  assert "--coordinator, --num-processes and --process-id go together" in capsys.readouterr().err
