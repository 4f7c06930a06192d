"""Per-member training time of a vmapped population against the same members trained one by one.

For each model (the moons MLP 2-12-6-1 and the MNIST MLP 784-128-64-10) and each population size M,
trains M members (he_normal, seeds 0..M-1, SGD + momentum) with jaxinit's population trainer, and,
in the same run, members trained one by one with the same compiled single-model trainer
(``jaxinit.engine.train.train_one``). Reports the steady-state per-member time of both (the fastest of
``--repeats`` runs; compile excluded: each program is warmed up first, and its compile time
reported apart), their ratio, and the
achieved FLOP/s (analytic count: 6 x MACs per training example, 2 x MACs per evaluated example).

Two optional PyTorch baselines run in the same process, after the jaxinit timings of each model,
when ``import torch`` works (torch is a benchmark-only dependency, not one of jaxinit's):

* a plain PyTorch training loop per model (``nn.Sequential(Linear, ReLU, ...)``,
  ``torch.optim.SGD(momentum=...)``, shuffled minibatches indexed from tensors already in memory, no
  DataLoader), ``--one-by-one`` models one after another (after one untimed warm-up model);
* a ``torch.func`` ensemble of M members (``stack_module_state`` + ``functional_call`` under
  ``vmap``, gradients by ``vmap(grad(...))``, SGD + momentum written by hand on the stacked
  parameters), for every M up to ``--torch-max-members`` (after one untimed 2-member warm-up).

Both do the work jaxinit does: the same learning rate and momentum (``Member`` defaults 0.1 and 0.9,
per member in the ensemble), batch size, epochs and order policy (one shuffled order shared by all
members, the last partial batch dropped), He-normal weights and zero biases, building the models in
the timed region (jaxinit's times include its init too), and after every epoch the loss and
accuracy of every member on the whole train and test sets, in chunks of ``eval_batch_size``. Not
mirrored: jaxinit's per-step divergence check (loss and parameters finite), which only jaxinit pays.
Eager PyTorch, no ``torch.compile``. Without torch those columns are None (JSON) and "-" (Markdown).

Speed-ups are baseline time / jaxinit per-member time (the torch.func ensemble: at the same M).
``state/member`` is analytic: 4 bytes x 3 x parameters (float32 parameters, momentum, gradients;
activations not counted). ``of peak`` is achieved FLOP/s over ``--peak-tflops`` (given by hand).

Run by hand; it writes ``<out>/population_throughput_<device>.json`` and ``.md``::

  python benchmarks/population_throughput.py                       # CPU defaults (MNIST subset)
  python benchmarks/population_throughput.py --models mnist --mnist-train 60000 --epochs 5 \\
      --sizes 1,8,64,256,1024,4096 --one-by-one 4                  # the GPU setting

MNIST is read from ``--data-dir`` or ``$JAXINIT_DATA_DIR``; without it only the moons model runs.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxinit import data, results
from jaxinit.engine import compilation
from jaxinit.engine import population as pop
from jaxinit.engine import train as tr
from jaxinit.nets import models

try:  # optional, benchmark-only
  import torch
  import torch.nn.functional as F
  from torch import func as torch_func
  from torch import nn
except ImportError:
  torch = None


TORCH_PRECISION = {"highest": "highest", "tf32": "high", "bf16": "medium"}
"""--precision -> torch.set_float32_matmul_precision, the counterpart of jaxinit's TrainConfig."""


def macs_per_example(widths: tuple[int, ...], inputs: int) -> int:
  dims = (inputs, *widths)
  return sum(a * b for a, b in itertools.pairwise(dims))


def run_population(model_cfg: models.ModelConfig, cfg: tr.TrainConfig, members: list,
                   d: tr.DeviceData) -> tuple[float, Any]:
  """Seconds to train ``members`` for ``cfg.epochs`` epochs (init included, compile not), and the
  last epoch's metrics ``(M, 4)``."""
  start = time.perf_counter()
  state = metrics = None
  for _, state, metrics in tr.run(model_cfg, cfg, members, d):  # noqa: B007
    pass
  jax.block_until_ready((state, metrics))
  return time.perf_counter() - start, metrics


def run_one_by_one(model_cfg: models.ModelConfig, cfg: tr.TrainConfig, members: list,
                   d: tr.DeviceData) -> float:
  start = time.perf_counter()
  for m in members:
    state, _ = tr.train_one(model_cfg, cfg, m, d)
    jax.block_until_ready(state)
  return time.perf_counter() - start


# ----------------------------------------------------------------------------- PyTorch baselines


class TorchData:
  """The dataset as torch tensors on ``device``: x flattened ``(N, D)`` float32, y int64."""

  def __init__(self, dataset: data.Dataset, device: Any):
    def x(a: np.ndarray) -> Any:
      return torch.from_numpy(np.ascontiguousarray(a.reshape(len(a), -1), np.float32)).to(device)

    def y(a: np.ndarray) -> Any:
      return torch.from_numpy(a.astype(np.int64)).to(device)

    self.device = device
    self.x_train, self.y_train = x(dataset.x_train), y(dataset.y_train)
    self.x_test, self.y_test = x(dataset.x_test), y(dataset.y_test)


def torch_device(name: str) -> Any:
  """``auto``: CUDA when jax runs on a GPU and this torch build sees one, else the CPU."""
  if name == "auto":
    name = "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"
  return torch.device(name)


def _sync(device: Any) -> None:
  if device.type == "cuda":
    torch.cuda.synchronize(device)


def torch_mlp(inputs: int, widths: tuple[int, ...], seed: int) -> Any:
  """``nn.Sequential(Linear, ReLU, ..., Linear)``, He-normal weights (fan in) and zero biases."""
  torch.manual_seed(seed)
  layers, d = [], inputs
  for i, w in enumerate(widths):
    lin = nn.Linear(d, w)
    nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
    nn.init.zeros_(lin.bias)
    layers += [lin] if i == len(widths) - 1 else [lin, nn.ReLU()]
    d = w
  return nn.Sequential(*layers)


def _mean_loss(logits: Any, y: Any) -> Any:
  """The training loss, as jaxinit's: sigmoid BCE for one logit, else softmax cross-entropy."""
  if logits.shape[-1] == 1:
    return F.binary_cross_entropy_with_logits(logits[:, 0], y.to(logits.dtype))
  return F.cross_entropy(logits, y)


def _per_example(logits: Any, y: Any) -> tuple[Any, Any]:
  """Loss and correctness per example for logits ``(..., B, C)`` and labels ``(B,)``."""
  lead = logits.shape[:-1]
  if logits.shape[-1] == 1:
    z = logits[..., 0]
    loss = F.binary_cross_entropy_with_logits(z, y.to(z.dtype).expand(lead), reduction="none")
    return loss, (z > 0) == (y == 1)
  loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.expand(lead).reshape(-1),
                         reduction="none").view(lead)
  return loss, logits.argmax(-1) == y


def _evaluate(forward: Callable[[Any], Any], x: Any, y: Any, chunk: int) -> tuple[Any, Any]:
  """Mean loss and accuracy of ``forward`` (logits ``(..., B, C)``) on ``(x, y)``, in chunks."""
  n, total, correct = len(y), 0.0, 0
  for i in range(0, n, chunk):
    loss, ok = _per_example(forward(x[i:i + chunk]), y[i:i + chunk])
    total, correct = total + loss.sum(-1), correct + ok.sum(-1)
  return total / n, correct / n


def _batches(n: int, batch: int | None, generator: Any, device: Any) -> Any:
  """One epoch's minibatch indices ``(steps, batch)``: shuffled, the last partial batch dropped."""
  if batch is None:
    return torch.arange(n, device=device)[None]
  steps = n // batch
  return torch.randperm(n, generator=generator)[:steps * batch].view(steps, batch).to(device)


def torch_train_one(widths: tuple[int, ...], cfg: tr.TrainConfig, member: pop.Member,
                    td: TorchData) -> Any:
  """Baseline (b): one model, the PyTorch tutorials' loop. Returns the metrics ``(epochs, 4)``."""
  model = torch_mlp(td.x_train.shape[1], widths, member.seed).to(td.device)
  opt = torch.optim.SGD(model.parameters(), lr=member.lr, momentum=member.momentum)
  order = torch.Generator().manual_seed(cfg.order_seed)  # one order shared by all members
  rows = []
  for _ in range(cfg.epochs):
    model.train()
    for idx in _batches(len(td.y_train), cfg.batch_size, order, td.device):
      opt.zero_grad()
      loss = _mean_loss(model(td.x_train[idx]), td.y_train[idx])
      loss.backward()
      opt.step()
    model.eval()
    with torch.no_grad():
      rows.append(torch.stack([
          *_evaluate(model, td.x_train, td.y_train, cfg.eval_batch_size),
          *_evaluate(model, td.x_test, td.y_test, cfg.eval_batch_size)]))
  return torch.stack(rows)


def torch_train_ensemble(widths: tuple[int, ...], cfg: tr.TrainConfig, members: list,
                         td: TorchData) -> tuple[Any, float]:
  """Baseline (c): ``len(members)`` models at once with ``torch.func``. Returns the metrics
  ``(epochs, M, 4)`` and the seconds spent building and stacking the models."""
  start = time.perf_counter()
  mods = [torch_mlp(td.x_train.shape[1], widths, m.seed).to(td.device) for m in members]
  params, buffers = torch_func.stack_module_state(mods)
  params = {k: v.detach() for k, v in params.items()}
  base = copy.deepcopy(mods[0]).to("meta")
  del mods
  init_s = time.perf_counter() - start

  def loss_fn(p: dict, b: dict, x: Any, y: Any) -> Any:
    return _mean_loss(torch_func.functional_call(base, (p, b), (x,)), y)

  grads_fn = torch_func.vmap(torch_func.grad(loss_fn), in_dims=(0, 0, None, None))
  forward_fn = torch_func.vmap(lambda p, b, x: torch_func.functional_call(base, (p, b), (x,)),
                               in_dims=(0, 0, None))
  size = len(members)

  def per_member(values: list[float], like: Any) -> Any:  # (M,) -> broadcastable to like
    return torch.tensor(values, device=td.device).view(size, *[1] * (like.dim() - 1))

  lr = {k: per_member([m.lr for m in members], v) for k, v in params.items()}
  mom = {k: per_member([m.momentum for m in members], v) for k, v in params.items()}
  velocity = {k: torch.zeros_like(v) for k, v in params.items()}
  order = torch.Generator().manual_seed(cfg.order_seed)
  rows = []
  for _ in range(cfg.epochs):
    for idx in _batches(len(td.y_train), cfg.batch_size, order, td.device):
      grads = grads_fn(params, buffers, td.x_train[idx], td.y_train[idx])
      with torch.no_grad():
        for k, p in params.items():  # optax.sgd(momentum): v = mom * v + g; p -= lr * v
          velocity[k].mul_(mom[k]).add_(grads[k])
          p.sub_(lr[k] * velocity[k])
    with torch.no_grad():
      forward = lambda x: forward_fn(params, buffers, x)
      rows.append(torch.stack([
          *_evaluate(forward, td.x_train, td.y_train, cfg.eval_batch_size),
          *_evaluate(forward, td.x_test, td.y_test, cfg.eval_batch_size)], dim=-1))
  return torch.stack(rows), init_s


def time_torch(device: Any, fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
  """Seconds ``fn(*args)`` takes (waiting for the device), and its result."""
  start = time.perf_counter()
  out = fn(*args)
  _sync(device)
  return time.perf_counter() - start, out


# ----------------------------------------------------------------------------- the benchmark


def bench(name: str, model_cfg: models.ModelConfig, cfg: tr.TrainConfig, dataset: data.Dataset,
          sizes: list[int], args: argparse.Namespace, device: Any) -> list[dict]:
  """Every jaxinit timing of this model first, then the torch baselines (so that torch's memory
  and threads never run beside or just before a jaxinit measurement)."""
  one_by_one, repeats = args.one_by_one, args.repeats
  d = tr.device_data(dataset)
  n_train, n_test = len(dataset.y_train), len(dataset.y_test)
  inputs = math.prod(dataset.feature_shape)
  macs = macs_per_example(model_cfg.widths, inputs)
  steps = 1 if cfg.batch_size is None else n_train // cfg.batch_size
  batch = n_train if cfg.batch_size is None else cfg.batch_size
  flops_member = cfg.epochs * (6 * macs * steps * batch + 2 * macs * (n_train + n_test))
  warm = dataclasses.replace(cfg, epochs=1)
  params = int(sum(x.size for x in jax.tree.leaves(
      pop.init_params(model_cfg, [pop.Member("he_normal", 0)], dataset.feature_shape)["params"])))

  # The one-by-one baseline: compile once, then time `one_by_one` members.
  t = time.perf_counter()
  run_one_by_one(model_cfg, cfg, [pop.Member("he_normal", 0)], d)
  single_first = time.perf_counter() - t
  single = list(pop.grid(["he_normal"], range(one_by_one)))
  single_s = min(run_one_by_one(model_cfg, cfg, single, d) for _ in range(repeats)) / one_by_one
  rows = []
  for m in sizes:
    members = list(pop.grid(["he_normal"], range(m)))
    t = time.perf_counter()
    run_population(model_cfg, warm, members, d)  # compiles this M
    first = time.perf_counter() - t
    with compilation.log() as compiled:
      runs = [run_population(model_cfg, cfg, members, d) for _ in range(repeats)]
    assert not compiled, f"the timed run recompiled: {compiled}"
    total = min(s for s, _ in runs)
    per_member = total / m
    achieved = flops_member * m / total / 1e9
    rows.append({
        "model": name, "M": m, "epochs": cfg.epochs, "n_train": n_train, "n_test": n_test,
        "batch_size": cfg.batch_size, "population_s": total, "per_member_ms": 1e3 * per_member,
        "one_by_one_per_member_ms": 1e3 * single_s, "speedup_vs_one_by_one": single_s / per_member,
        "compile_s": max(first - total / cfg.epochs, 0.0),
        "single_compile_s": max(single_first - single_s, 0.0),
        "achieved_gflops": achieved,
        "fraction_of_peak": None if args.peak_tflops is None else achieved / (1e3 * args.peak_tflops),
        "params_per_member": params,
        "state_bytes_per_member": 3 * 4 * params,  # float32 params + momentum + grads (analytic)
        "test_acc_mean": float(np.mean(np.asarray(runs[0][1])[:, 3])),
        "torch_loop_per_model_ms": None, "torch_loop_first_s": None,
        "torch_loop_test_acc_mean": None, "speedup_vs_torch_loop": None,
        "torch_func_per_member_ms": None, "torch_func_init_s": None, "torch_func_gflops": None,
        "torch_func_test_acc_mean": None, "speedup_vs_torch_func": None,
        "torch_func_skipped": None if device is not None else (
            "torch is not installed" if torch is None else "--no-torch"),
    })
    r = rows[-1]
    print(f"{name:6s} M={m:5d}  {r['per_member_ms']:9.3f} ms/member  one-by-one "
          f"{r['one_by_one_per_member_ms']:9.3f} ms  x{r['speedup_vs_one_by_one']:6.2f}  "
          f"{r['achieved_gflops']:7.2f} GFLOP/s  compile {r['compile_s']:.2f} s  "
          f"test acc {r['test_acc_mean']:.3f}", file=sys.stderr)
  if device is None:
    return rows
  td = TorchData(dataset, device)

  # Baseline (b): the plain PyTorch loop, one model after another (after one untimed warm-up model).
  loop_first, _ = time_torch(device, torch_train_one, model_cfg.widths, cfg, single[0], td)
  loop = lambda: [torch_train_one(model_cfg.widths, cfg, m, td) for m in single]
  runs = [time_torch(device, loop) for _ in range(repeats)]
  loop_s = min(s for s, _ in runs) / one_by_one
  loop_acc = float(torch.stack([m[-1, 3] for m in runs[0][1]]).mean())
  print(f"{name:6s} torch loop {1e3 * loop_s:9.3f} ms/model  (first {loop_first:.2f} s)  "
        f"test acc {loop_acc:.3f}", file=sys.stderr)

  # Baseline (c): the torch.func ensemble of each M (after one untimed warm-up run of 2 members).
  time_torch(device, torch_train_ensemble, model_cfg.widths, warm, single[:2], td)
  for r in rows:
    m, per_member = r["M"], r["per_member_ms"] / 1e3
    r.update(torch_loop_per_model_ms=1e3 * loop_s, torch_loop_first_s=loop_first,
             torch_loop_test_acc_mean=loop_acc, speedup_vs_torch_loop=loop_s / per_member)
    if args.torch_max_members is not None and m > args.torch_max_members:
      r["torch_func_skipped"] = f"M > --torch-max-members {args.torch_max_members}"
      print(f"{name:6s} M={m:5d}  torch.func skipped ({r['torch_func_skipped']})", file=sys.stderr)
      continue
    members = list(pop.grid(["he_normal"], range(m)))
    runs = [time_torch(device, torch_train_ensemble, model_cfg.widths, cfg, members, td)
            for _ in range(repeats)]
    func_s = min(s for s, _ in runs)
    r.update(torch_func_per_member_ms=1e3 * func_s / m, torch_func_init_s=runs[0][1][1],
             torch_func_gflops=flops_member * m / func_s / 1e9,
             torch_func_test_acc_mean=float(runs[0][1][0][-1, :, 3].mean()),
             speedup_vs_torch_func=func_s / m / per_member)
    del runs
    print(f"{name:6s} M={m:5d}  torch.func {r['torch_func_per_member_ms']:9.3f} ms/member  "
          f"(jaxinit x{r['speedup_vs_torch_func']:.2f})  {r['torch_func_gflops']:7.2f} GFLOP/s  "
          f"test acc {r['torch_func_test_acc_mean']:.3f}", file=sys.stderr)
  return rows


def _fmt(value: float | None, digits: int, suffix: str = "", scale: float = 1.0) -> str:
  """``value * scale`` with ``digits`` decimals and ``suffix``; "-" for None."""
  return "-" if value is None else f"{value * scale:.{digits}f}{suffix}"


def markdown(rows: list[dict], env: dict) -> str:
  """The table: per-member ms, speed-ups (baseline ms / jaxinit per-member ms), FLOP/s, memory."""
  torch_note = f"torch {env['torch']} on {env['torch_device']}" if env.get("torch") else \
      "torch not installed"
  head = (f"Device: {env['backend']} {env['device_kinds'][0]}; jax {env['jax']}; {torch_note}; "
          f"precision {env['precision']}; {env['timestamp']}\n\n"
          "| model | M | epochs | train examples | per member (ms) | one by one (ms) | speed-up | "
          "torch loop (ms) | vs torch loop | torch.func (ms) | "
          "vs torch.func | GFLOP/s | of peak | state/member (KiB) | compile (s) |\n"
          "|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
  return head + "".join(
      f"| {r['model']} | {r['M']} | {r['epochs']} | {r['n_train']} | {r['per_member_ms']:.3f} | "
      f"{r['one_by_one_per_member_ms']:.3f} | {r['speedup_vs_one_by_one']:.2f}x | "
      f"{_fmt(r['torch_loop_per_model_ms'], 3)} | {_fmt(r['speedup_vs_torch_loop'], 2, 'x')} | "
      f"{_fmt(r['torch_func_per_member_ms'], 3)} | {_fmt(r['speedup_vs_torch_func'], 2, 'x')} | "
      f"{r['achieved_gflops']:.2f} | {_fmt(r['fraction_of_peak'], 1, '%', 100)} | "
      f"{r['state_bytes_per_member'] / 1024:.1f} | {r['compile_s']:.2f} |\n" for r in rows)


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--sizes", default="1,8,64,256,1024")
  p.add_argument("--models", default="moons,mnist")
  p.add_argument("--epochs", type=int, default=1)
  p.add_argument("--moons-epochs", type=int, default=20)
  p.add_argument("--mnist-train", type=int, default=2048, help="MNIST training examples used")
  p.add_argument("--one-by-one", type=int, default=4,
                 help="members timed one by one (jaxinit's single-model trainer and the torch loop)")
  p.add_argument("--repeats", type=int, default=3, help="timed runs; the fastest is reported")
  p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baselines")
  p.add_argument("--torch-device", default="auto",
                 help="torch device: auto (cuda when jax runs on a GPU and torch sees one), cpu, cuda")
  p.add_argument("--torch-max-members", type=int, default=None,
                 help="largest M the torch.func ensemble is run for (larger: skipped, '-')")
  p.add_argument("--peak-tflops", type=float, default=None,
                 help="the device's peak TFLOP/s at --precision, for the 'of peak' column")
  p.add_argument("--precision", default="highest", choices=list(TORCH_PRECISION),
                 help="matmul precision of both jaxinit (TrainConfig.precision) and torch "
                      "(torch.set_float32_matmul_precision); the CPU computes all in float32")
  p.add_argument("--data-dir", default=os.environ.get("JAXINIT_DATA_DIR"))
  p.add_argument("--out", default=str(Path(__file__).parent / "results"))
  args = p.parse_args(argv)
  sizes = [int(s) for s in args.sizes.split(",")]
  device = None
  if torch is None:
    print("torch is not installed: the PyTorch baseline columns are left empty", file=sys.stderr)
  elif args.no_torch:
    print("--no-torch: the PyTorch baseline columns are left empty", file=sys.stderr)
  else:
    device = torch_device(args.torch_device)
    torch.set_float32_matmul_precision(TORCH_PRECISION[args.precision])
  rows = []
  for name in args.models.split(","):
    if name == "moons":
      rows += bench("moons", models.ModelConfig(), tr.TrainConfig(epochs=args.moons_epochs,
                                                                  batch_size=32,
                                                                  precision=args.precision),
                    data.moons(0), sizes, args, device)
    elif name == "mnist":
      if not args.data_dir:
        print("skipping mnist: no --data-dir or JAXINIT_DATA_DIR", file=sys.stderr)
        continue
      mnist = data.mnist(args.data_dir)
      mnist = mnist.subset(min(args.mnist_train, 60000), 10000)
      rows += bench("mnist", models.ModelConfig(widths=(128, 64, 10)),
                    tr.TrainConfig(epochs=args.epochs, batch_size=128, precision=args.precision),
                    mnist, sizes, args, device)
    else:
      raise SystemExit(f"unknown model {name!r}; accepted: moons, mnist")
  env = results.environment()
  env.update(torch=None if torch is None else torch.__version__,
             torch_device=None if device is None else str(device),
             torch_threads=None if device is None else torch.get_num_threads(),
             precision=args.precision)
  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  stem = f"population_throughput_{env['backend']}"
  results.write_json(out / f"{stem}.json", {"environment": env, "args": vars(args), "rows": rows})
  (out / f"{stem}.md").write_text(markdown(rows, env))
  print(json.dumps({"written": str(out / f"{stem}.md")}))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
