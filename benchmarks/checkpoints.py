"""Save and restore times of a sweep's checkpoint: the msgpack file of earlier versions against Orbax.

For each model (the moons MLP 2-12-6-1 and an MLP 784-256-256-10) and each population size M, builds
the train state a sweep holds after an epoch (SGD + momentum: parameters and momentum; random
float32 values, so nothing compresses better than real weights do) and times, the fastest of
``--repeats``:

* ``msgpack``: what a sweep did up to this version: gather the population on the host (unpad),
  ``flax.serialization.to_bytes`` and an atomic write (fsync + rename) of ``checkpoint.msgpack``;
  restore: read, ``msgpack_restore``, ``from_state_dict`` into the template;
* ``orbax``: :mod:`jaxinit.engine.checkpoints` (an ``orbax.checkpoint.CheckpointManager`` step:
  the padded device state as it is, synchronous, temporary folder + rename); restore into the
  plan's placement (:func:`jaxinit.engine.checkpoints.target_sharding`: the device).

Both restores are checked equal to what was saved. Run by hand; it writes
``<out>/checkpoints_<backend>.json`` and ``.md``::

  python benchmarks/checkpoints.py                         # M = 1024, both models, both formats
  python benchmarks/checkpoints.py --sizes 64,1024 --formats msgpack
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import numpy as np

from jaxinit import results
from jaxinit.engine import placement, sharding
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import models
from jaxinit.results import folders

MODELS = {"moons": (models.ModelConfig(), (2,)),
          "mlp784": (models.ModelConfig(widths=(256, 256, 10)), (784,))}


def state_of(model: models.ModelConfig, feature_shape: tuple[int, ...], m: int) -> tr.TrainState:
  """A population's train state of ``m`` members as :func:`jaxinit.engine.train.init_state` shapes
  it, filled with random values (drawing ``m`` real inits would take longer than the timings)."""
  one = pop.grid(("he_normal",), (0,), (0.1,), (0.9,), (1.0,))
  x = np.zeros((4, *feature_shape), np.float32)
  padded = tr.init_state(model, tr.TrainConfig(epochs=1), one, x, count=m)  # member 0, m times
  rng = np.random.default_rng(0)
  return jax.tree.map(lambda s: jax.device_put(
      rng.standard_normal(s.shape, np.float32).astype(s.dtype)), padded)


def msgpack_pair(folder: Path, state: tr.TrainState, m: int
                 ) -> tuple[Callable[[], None], Callable[[], Any]]:
  """The save and restore of a sweep's ``checkpoint.msgpack`` (the code of earlier versions)."""
  path = folder / "checkpoint.msgpack"

  def save() -> None:
    host = sharding.unpad(state, m)
    folders.atomic_write(path, flax.serialization.to_bytes({"epoch": 1, "state": host}))

  def restore() -> Any:
    target = {"epoch": 0, "state": jax.device_get(sharding.unpad(state, m))}
    payload = flax.serialization.msgpack_restore(path.read_bytes())
    return flax.serialization.from_state_dict(target, payload)["state"]

  return save, restore


def orbax_pair(folder: Path, state: tr.TrainState, m: int
               ) -> tuple[Callable[[], None], Callable[[], Any]]:
  """The save and restore of :mod:`jaxinit.engine.checkpoints`."""
  from jaxinit.engine import checkpoints

  epoch = iter(range(1, 10**6))

  def save() -> None:
    with checkpoints.Checkpoints(folder / "checkpoints", keep=2) as store:
      store.save(next(epoch), state, m)

  def restore() -> Any:
    with checkpoints.Checkpoints(folder / "checkpoints", keep=2) as store:
      return store.restore(state, m, checkpoints.target_sharding(placement.plan(m)))[1]

  return save, restore


PAIRS = {"msgpack": msgpack_pair, "orbax": orbax_pair}


def fastest(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
  best, out = float("inf"), None
  for _ in range(repeats):
    t = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    best = min(best, time.perf_counter() - t)
  return best, out


def bench(name: str, m: int, fmt: str, repeats: int) -> dict[str, Any]:
  model, feature_shape = MODELS[name]
  state = state_of(model, feature_shape, m)
  folder = Path(tempfile.mkdtemp(prefix="jaxinit-ckpt-bench-"))
  try:
    save, restore = PAIRS[fmt](folder, state, m)
    t_save, _ = fastest(save, repeats)
    t_restore, restored = fastest(restore, repeats)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(sharding.unpad(state, m)),
                    strict=True):
      np.testing.assert_array_equal(np.asarray(a)[:m], b)
    nbytes = sum(x.nbytes for x in jax.tree.leaves(state))
    return {"model": name, "members": m, "format": fmt, "state_MB": nbytes / 1e6,
            "save_s": t_save, "restore_s": t_restore, "save_MB_per_s": nbytes / 1e6 / t_save,
            "restore_MB_per_s": nbytes / 1e6 / t_restore}
  finally:
    shutil.rmtree(folder, ignore_errors=True)


def markdown(rows: list[dict[str, Any]], env: dict[str, Any]) -> str:
  head = ["model", "members", "format", "state_MB", "save_s", "restore_s", "save_MB_per_s",
          "restore_MB_per_s"]
  lines = [f"Checkpoint save/restore on {env['backend']} ({env['device_count']} device(s), "
           f"{env['hostname']}), the fastest of the repeats.", "", "| " + " | ".join(head) + " |",
           "|" + "---|" * len(head)]
  for r in rows:
    lines.append("| " + " | ".join(f"{r[k]:.3g}" if isinstance(r[k], float) else str(r[k])
                                   for k in head) + " |")
  return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--sizes", default="1024")
  p.add_argument("--models", default="moons,mlp784")
  p.add_argument("--formats", default="msgpack,orbax")
  p.add_argument("--repeats", type=int, default=3, help="timed runs; the fastest is reported")
  p.add_argument("--out", default=str(Path(__file__).parent / "results"))
  args = p.parse_args(argv)
  rows = []
  for name in args.models.split(","):
    for m in (int(s) for s in args.sizes.split(",")):
      for fmt in args.formats.split(","):
        rows.append(bench(name, m, fmt, args.repeats))
        print(json.dumps(rows[-1]), flush=True)
  env = results.environment()
  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  stem = f"checkpoints_{env['backend']}"
  settings = {k: v for k, v in vars(args).items() if k != "out"}  # no path of this machine
  results.write_json(out / f"{stem}.json", {"environment": env, "args": settings, "rows": rows})
  (out / f"{stem}.md").write_text(markdown(rows, env))
  print(json.dumps({"written": str(out / f"{stem}.md")}))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
