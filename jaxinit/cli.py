"""The ``jaxinit`` command line.

``jaxinit schemes`` lists the initialization schemes, aliases and activations; ``jaxinit sample
NAME --shape 784,128`` draws one array and compares its statistics with the scheme's target. Each
subcommand is one ``_cmd_*`` function registered in :func:`_parser`; library errors (an unknown
scheme, a bad shape or dtype) print ``jaxinit: error: <message>`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinit import activations, initializers, names
from jaxinit import schemes as scheme_registry

__all__ = ["main"]

STRUCTURED = ("orthogonal", "delta_orthogonal", "identity")
SHAPE_HELP = "--shape must be comma-separated non-negative ints, e.g. 784,128"


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
  """Left-aligns columns; the last column is not padded."""
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
  padded = ([c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)] + [r[-1]] for r in rows)
  return [(indent + "  ".join(cells)).rstrip() for cells in padded]


def _signature(factory: object) -> str:
  """``gain=1.0, mode=fan_in``: a factory's parameters with defaults, as a scheme string writes them."""
  params = inspect.signature(factory).parameters.values()
  return ", ".join(p.name if p.default is inspect.Parameter.empty
                   else f"{p.name}={names.format_value(p.default)}" for p in params)


def _cmd_schemes(args: argparse.Namespace) -> int:
  schemes = [(n, initializers.get(n).formula, _signature(initializers.FACTORIES[n]) or "-")
             for n in initializers.known()]
  acts = [(n, _signature(activations.FACTORIES[n]) or "-") for n in activations.known()]
  print(f"initializers ({len(schemes)}): name, formula, parameters with defaults")
  print("\n".join(_table(schemes)))
  print(f"\ninitializer aliases ({len(initializers.ALIASES)}): alias -> canonical")
  print("\n".join(f"  {a} -> {c}" for a, c in sorted(initializers.ALIASES.items())))
  whole = [(n, _signature(scheme_registry.FACTORIES[n])) for n in sorted(scheme_registry.FACTORIES)]
  print(f"\nwhole-network schemes ({len(whole)}, for sweep/diagnose --schemes): name, parameters "
        "with defaults")
  print("\n".join(_table(whole)))
  print(f"\nactivations ({len(acts)}): name, parameters with defaults")
  print("\n".join(_table(acts)))
  print(f"\nactivation aliases ({len(activations.ALIASES)}): alias -> canonical")
  print("\n".join(f"  {a} -> {c}" for a, c in sorted(activations.ALIASES.items())))
  return 0


def _parse_shape(text: str) -> tuple[int, ...]:
  """``"784,128"`` -> ``(784, 128)``; an empty string is the 0-D shape ``()``."""
  parts = [p.strip() for p in text.split(",")] if text.strip() else []
  if not all(p.isascii() and p.isdigit() for p in parts):
    raise ValueError(f"{SHAPE_HELP}; got {text!r}")
  return tuple(int(p) for p in parts)


def _parse_dtype(text: str) -> jnp.dtype:
  try:
    return jnp.dtype(text)
  except TypeError:
    raise ValueError(f"--dtype {text!r} is not a dtype; accepted: float32, float64, float16, "
                     "bfloat16") from None


def _cmd_sample(args: argparse.Namespace) -> int:
  # Imported here so that `jaxinit schemes` does not pay for matplotlib.
  from jaxinit import plots

  init = initializers.get(args.name)
  # jax.random.key keeps 32 bits of the seed unless x64 is on: larger seeds would repeat others.
  if not 0 <= args.seed < 2 ** 32:
    raise ValueError(f"--seed {args.seed} is out of range; accepted: an int in [0, 2^32)")
  shape = _parse_shape(args.shape)
  dtype = _parse_dtype(args.dtype)
  if args.plot is not None:
    plots.check_path(args.plot)
    if math.prod(shape) == 0:
      raise ValueError(f"--plot needs a non-empty draw; shape {shape} has no entries")
  # float64 needs jax's x64 mode, switched on only for this draw.
  x64 = jax.enable_x64(True) if dtype == jnp.float64 else contextlib.nullcontext()
  with x64:
    w = init(jax.random.key(args.seed), shape, dtype)
    fan_in, fan_out = initializers.fans(shape)
    print(f"scheme   {init.name}\nformula  {init.formula}\nshape    {shape}\ndtype    {w.dtype}\n"
          f"fan_in   {fan_in}\nfan_out  {fan_out}\nseed     {args.seed}")
    if w.size == 0:
      print("the draw is empty: no statistics")
      return 0
    x = w if w.dtype.itemsize >= 4 else w.astype(jnp.float32)
    t = init.target(shape)
    draw = [jnp.mean(x), jnp.std(x), jnp.var(x), jnp.mean(x * x), jnp.min(x), jnp.max(x)]
    mean_sq = t.variance + t.mean ** 2
    lo, hi = ("-", "-") if t.bound is None else (f"{t.mean - t.bound:.6g}", f"{t.mean + t.bound:.6g}")
    rows = [("", "draw", f"target ({t.family})")]
    rows += [(label, f"{float(d):.6g}", tv) for label, d, tv in zip(
        ("mean", "std", "variance", "mean_sq", "min", "max"), draw,
        (f"{t.mean:.6g}", f"{math.sqrt(t.variance):.6g}", f"{t.variance:.6g}", f"{mean_sq:.6g}",
         lo, hi), strict=True)]
    print("\n".join(_table(rows, indent="")))
  if t.family in STRUCTURED:
    print(f"note: {t.family} entries are not independent; the target mean_sq is the exact mean "
          "square over all entries, equal to the draw's mean_sq for every draw")
  if args.plot is not None:
    plots.sample_histogram(w, t, init.name, args.plot)
    print(f"histogram written to {args.plot}")
  return 0


def _ints(text: str, flag: str) -> tuple[int, ...]:
  parts = [p.strip() for p in text.split(",")]
  if not all(p.isascii() and p.isdigit() for p in parts):
    raise ValueError(f"{flag} must be comma-separated positive ints, e.g. 128,64,10; got {text!r}")
  return tuple(int(p) for p in parts)


def _floats(text: str, flag: str) -> tuple[float, ...]:
  try:
    return tuple(float(p) for p in text.split(","))
  except ValueError:
    raise ValueError(f"{flag} must be comma-separated numbers, e.g. 0.1,0.01; got {text!r}") from None


def _seeds(text: str) -> tuple[int, ...]:
  """``"32"`` -> 0..31; ``"5:10"`` -> 5..9; ``"1,4,9"`` -> those seeds (``"7,"`` is seed 7 alone)."""
  help_ = "--seeds takes a count N (seeds 0..N-1), a range A:B, or a list like 1,4,9"
  try:
    if ":" in text:
      a, b = (int(p) for p in text.split(":"))
      seeds = tuple(range(a, b))
    elif "," in text:
      seeds = tuple(int(p) for p in text.split(",") if p.strip())
    else:
      seeds = tuple(range(int(text)))
  except ValueError:
    raise ValueError(f"{help_}; got {text!r}") from None
  if not seeds:
    raise ValueError(f"{help_}; {text!r} gives no seeds")
  return seeds


def _population_config(args: argparse.Namespace) -> Any:
  """The sweep config of the data/model/population flags, over the defaults of --data and --model.

  Shared by ``sweep`` and ``diagnose``; the training flags are applied by :func:`_sweep_config`.
  """
  from jaxinit import models, sweep

  base = sweep.default_config(args.data, args.model)
  model = base.model
  if args.widths is not None or args.channels is not None or args.activation or args.batch_norm:
    model = models.ModelConfig(
        kind=args.model,
        widths=_ints(args.widths, "--widths") if args.widths is not None else model.widths,
        activation=args.activation or model.activation, batch_norm=args.batch_norm,
        channels=_ints(args.channels, "--channels") if args.channels is not None else model.channels)
  grid: dict[str, Any] = {}
  if args.schemes is not None:
    grid["schemes"] = tuple(names.split_list(args.schemes, "--schemes"))
  if args.seeds is not None:
    grid["seeds"] = _seeds(args.seeds)
  if args.scales is not None:
    grid["scales"] = _floats(args.scales, "--scales")
  if args.data_seed is not None:
    grid["data_seed"] = args.data_seed
  return dataclasses.replace(base, model=model, **grid)


def _sweep_config(args: argparse.Namespace) -> Any:
  """The sweep's config: the dataset/model defaults, overridden by the flags given."""
  base = _population_config(args)
  changes: dict[str, Any] = {k: v for k, v in (("epochs", args.epochs), ("shuffle", args.shuffle),
                                                ("order_seed", args.order_seed),
                                                ("precision", args.precision)) if v is not None}
  if args.batch_size is not None:
    changes["batch_size"] = None if args.batch_size == "full" else _ints(args.batch_size,
                                                                        "--batch-size")[0]
  grid = {field: _floats(getattr(args, flag), f"--{flag}")
          for flag, field in (("lr", "lrs"), ("momentum", "momenta"))
          if getattr(args, flag) is not None}
  return dataclasses.replace(base, train=dataclasses.replace(base.train, **changes), **grid)


def _distributed(args: argparse.Namespace) -> None:
  """``jax.distributed.initialize`` from --coordinator/--num-processes/--process-id, or with no
  arguments (SLURM, Cloud TPU) for --distributed; CPU processes talk through gloo."""
  given = [args.coordinator, args.num_processes, args.process_id]
  if not args.distributed and all(v is None for v in given):
    return
  if any(v is None for v in given) and any(v is not None for v in given):
    raise ValueError("--coordinator, --num-processes and --process-id go together; give all three, "
                     "or --distributed alone where the cluster provides them (SLURM, Cloud TPU)")
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                             process_id=args.process_id)


def _cmd_sweep(args: argparse.Namespace) -> int:
  from jaxinit import results, sweep

  _distributed(args)
  config = _sweep_config(args)
  config.members()  # validates the grid before anything is written
  folder = Path(args.out) / (args.name or f"{config.data}-{config.model.kind}")
  m = len(config.members())
  print(f"sweep: {m} members ({len(config.schemes)} schemes x {len(config.seeds)} seeds"
        f"{'' if m == len(config.schemes) * len(config.seeds) else ' x hyperparameters'}), "
        f"{config.data}, {config.model.kind} {config.model.widths}, {config.train.epochs} epochs "
        f"-> {folder}", file=sys.stderr)
  try:
    record = sweep.run(config, folder, data_dir=args.data_dir, resume=args.resume,
                       overwrite=args.overwrite, checkpoint_seconds=args.checkpoint_seconds,
                       max_members_per_chunk=args.max_members_per_chunk,
                       quiet=args.quiet, figures=not args.no_figures)
  except KeyboardInterrupt:
    return 130
  table = results.summarize(results.read_records(folder / sweep.RECORDS), by=sweep.group_keys(config))
  print(results.to_markdown(table, ("train_acc", "test_acc"), by=sweep.group_keys(config),
                            spread="std"))
  print(f"\nmean ± std over seeds after epoch {config.train.epochs}; "
        f"{record['wall_s']['total']:.1f} s; records, tables and figures in {folder}")
  return 0


def _cmd_theory(args: argparse.Namespace) -> int:
  from jaxinit import theory

  act = activations.get(args.activation)
  depths = _ints(args.depths, "--depths")
  if (args.C_b is None) != (args.C_W is None):
    raise ValueError("give both --C-b and --C-W, or neither (then the critical point is used)")
  try:
    crit, reason = theory.critical_point(act), ""
  except ValueError as e:
    crit, reason = None, str(e)
  print(f"activation      {act.name}")
  if crit is None:
    print(f"critical point  none: {reason}")
    if args.C_b is None:
      raise ValueError(f"{act.name} has no critical point; give --C-b and --C-W to study a point "
                       "of your choice")
  else:
    k_star = "any (K(l) = K(1))" if crit.kind == "scale_invariant" else f"{crit.K_star:.6g}"
    print(f"critical point  C_b = {crit.C_b:.6g}, C_W = {crit.C_W:.6g}, K* = {k_star} "
          f"({crit.kind.replace('_', ' ')})")
  at_critical = args.C_b is None
  C_b, C_W = (crit.C_b, crit.C_W) if at_critical else (args.C_b, args.C_W)
  names.check_number("C_b", "theory", C_b, 0.0)
  names.check_number("C_W", "theory", C_W, 0.0, strict=True)
  names.check_number("K1", "theory", args.K1, 0.0, strict=True)
  if at_critical and crit.kind != "scale_invariant":
    K_star = crit.K_star
  else:
    K_star = float(theory.fixed_point(act, C_b, C_W, K0=args.K1))
  chi_par = float(theory.chi_parallel(act, C_W, K_star))
  chi_perp = float(theory.chi_perp(act, C_W, K_star))
  with np.errstate(divide="ignore"):
    xi_q, xi_c = (float(-1 / np.log(np.float64(c))) for c in (chi_par, chi_perp))
  phase = ("critical (edge of chaos)" if abs(chi_perp - 1) < 1e-6 else
           "ordered" if chi_perp < 1 else "chaotic")
  rows = [("at", f"C_b = {C_b:.6g}, C_W = {C_W:.6g}"), ("K*", f"{K_star:.6g}"),
          ("chi_par(K*)", f"{chi_par:.6g}"), ("chi_perp(K*)", f"{chi_perp:.6g}"),
          ("phase", phase), ("xi_q", f"{xi_q:.6g}"), ("xi_c", f"{xi_c:.6g}")]
  print("\n".join(_table(rows, indent="")))
  Ks = np.asarray(theory.kernel_recursion(act, C_b, C_W, args.K1, max(depths)))
  print(f"\nkernel K(l) from K(1) = {args.K1:g}, and chi_perp(K(l)):")
  table = [("l", "K(l)", "chi_perp")] + [
      (str(d), f"{Ks[d - 1]:.6g}", f"{float(theory.chi_perp(act, C_W, Ks[d - 1])):.6g}")
      for d in depths]
  print("\n".join(_table(table)))
  if args.phase_diagram is not None:
    from jaxinit import plots

    path = plots.check_path(args.phase_diagram)
    C_W_grid = np.linspace(0.25 * C_W, 2.5 * C_W, 91)
    C_b_grid = np.linspace(0.0, max(0.5, 3 * C_b), 41)
    chi = jax.jit(jax.vmap(jax.vmap(lambda b, w: theory.phase(act, b, w), (None, 0)), (0, None)))(
        jnp.asarray(C_b_grid), jnp.asarray(C_W_grid))
    plots.phase_diagram(C_W_grid, C_b_grid, np.asarray(chi), path, title=act.name)
    print(f"\nphase diagram written to {path}")
  return 0


def _mean_by(rows: list[dict], keys: tuple[str, ...], field: str) -> dict[tuple, float]:
  """Mean of ``field`` over the rows sharing ``keys`` (NaN where every value is NaN)."""
  groups: dict[tuple, list[float]] = {}
  for r in rows:
    groups.setdefault(tuple(r[k] for k in keys), []).append(r[field])
  return {k: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan for k, v in groups.items()}


def _cmd_diagnose(args: argparse.Namespace) -> int:
  import shutil

  from jaxinit import data, diagnostics, plots, population, results, sweep

  config = _population_config(args)
  members = population.grid(config.schemes, config.seeds, scales=config.scales)
  dataset = data.load(config.data, seed=config.data_seed, data_dir=args.data_dir)
  if args.examples < 1:
    raise ValueError(f"--examples must be >= 1; got {args.examples}")
  n = min(args.examples, len(dataset.y_train))
  folder = Path(args.out) / (args.name or f"diagnose-{config.data}-{config.model.kind}")
  if folder.exists() and any(folder.iterdir()):
    if not args.overwrite:
      raise ValueError(f"output folder {folder} is not empty; pass --overwrite to replace it, or "
                       "choose another --name")
    if not (folder / "diagnostics.json").exists():
      raise ValueError(f"refusing to overwrite {folder}: it holds no diagnostics.json")
    shutil.rmtree(folder)
  variables = population.init_params(config.model, members, dataset.feature_shape,
                                     population.init_batch(dataset.x_train))
  diag = diagnostics.diagnose(config.model, members, variables, dataset.x_train[:n],
                              dataset.y_train[:n], bins=args.bins)
  sv = np.asarray(diagnostics.jacobian_singular_values(config.model, variables,
                                                       dataset.x_train[:1]))
  rows = diagnostics.to_rows(diag)
  folder.mkdir(parents=True, exist_ok=True)
  results.write_json(folder / "diagnostics.json", {
      "config": {"data": config.data, "model": dataclasses.asdict(config.model), "examples": n,
                 "bins": args.bins},
      "edges": {q: np.asarray(e).tolist() for q, e in diag.edges.items()},
      "records": diag.records, "jacobian_singular_values": sv.tolist(),
      "environment": results.environment()})
  (folder / "diagnostics.csv").write_text(results.to_csv(rows))
  figures = []
  for scheme in dict.fromkeys(m.scheme for m in members):
    k = next(i for i, m in enumerate(members) if m.scheme == scheme)
    slug = sweep.slug(scheme)
    for quantity in ("preact", "act", "grad_preact"):
      edges, counts = diagnostics.histograms(diag, k, quantity)
      figures.append(folder / f"hist_{slug}_{quantity}.png")
      plots.histogram_grid(edges, counts, figures[-1], xlabel=quantity.replace("_", " "),
                           title=f"{scheme}, seed {members[k].seed}: {quantity} per layer",
                           labels=[f"layer {r}" for r in sorted(
                               {r["layer"] for r in rows if r["quantity"] == quantity})])
    idx = [i for i, m in enumerate(members) if m.scheme == scheme]
    kernel = np.array([[r["kernel"] for r in rows if r["member"] == i and r["quantity"] == "preact"]
                       for i in idx])
    figures.append(folder / f"kernel_{slug}.png")
    plots.depth_profile(None, kernel, figures[-1], "G(l) = mean z(l)^2", title=scheme,
                        log=bool(np.all(kernel > 0)))
  eig = {scheme: sv[[i for i, m in enumerate(members) if m.scheme == scheme]] ** 2
         for scheme in dict.fromkeys(m.scheme for m in members)}
  if any(np.any(v > 0) for v in eig.values()):
    figures.append(folder / "jacobian_spectrum.png")
    plots.jacobian_spectrum({k: v for k, v in eig.items() if np.any(v > 0)}, figures[-1],
                            title="input-output Jacobian at one input")
  keys = ("scheme", "layer")
  pre = [r for r in rows if r["quantity"] == "preact"]
  kernel, std = _mean_by(pre, keys, "kernel"), _mean_by(pre, keys, "std")
  grad = _mean_by([r for r in rows if r["quantity"] == "grad_preact"], keys, "grad_norm")
  acts = [r for r in rows if r["quantity"] == "act"]
  dead, sat = _mean_by(acts, keys, "dead_frac"), _mean_by(acts, keys, "saturated_frac")
  print("| scheme | layer | G(l) = mean z^2 | std z | E ||dL/dz||^2 | dead | saturated |")
  print("|:---|---:|---:|---:|---:|---:|---:|")
  for key in kernel:
    cells = [f"{kernel[key]:.4g}", f"{std[key]:.4g}", f"{grad.get(key, math.nan):.4g}",
             f"{dead.get(key, math.nan):.2f}", f"{sat.get(key, math.nan):.2f}"]
    print(f"| {key[0]} | {key[1]} | " + " | ".join(c.replace("nan", "-") for c in cells) + " |")
  print(f"\nmeans over {len(config.seeds)} seeds at init, on {n} {config.data} examples; "
        f"diagnostics.json, diagnostics.csv and {len(figures)} figures in {folder}")
  return 0


def _add_population_flags(p: argparse.ArgumentParser) -> None:
  """The data, model and population flags shared by ``sweep`` and ``diagnose``."""
  p.add_argument("--data", default="moons", help="moons (default), circles, mnist, fashion_mnist")
  p.add_argument("--data-dir", help="folder of the IDX files for mnist/fashion_mnist "
                 "(default: $JAXINIT_DATA_DIR, else tensorflow-datasets)")
  p.add_argument("--data-seed", type=int, help="seed of the toy datasets (default 0)")
  p.add_argument("--model", default="mlp", choices=("mlp", "cnn"), help="mlp (default) or cnn")
  p.add_argument("--widths", help="dense widths, the last = number of logits (1 = binary), "
                 "e.g. 12,6,1")
  p.add_argument("--channels", help="cnn convolution channels, e.g. 16,32")
  p.add_argument("--activation", help="hidden activation, e.g. relu, tanh, 'leaky_relu(0.2)'")
  p.add_argument("--batch-norm", action="store_true", help="BatchNorm after every hidden layer")
  p.add_argument("--schemes", help="comma-separated scheme names (initializers or critical(ACT), "
                 "lsuv(...), metainit(...)), e.g. 'zeros,normal(stddev=10),he_normal,critical(tanh)'")
  p.add_argument("--seeds", help="a count N (seeds 0..N-1, default 32), a range A:B or a list 1,4,9")
  p.add_argument("--scales", help="init scale(s) multiplying every kernel (default 1.0)")


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="jaxinit", description="Weight initialization schemes in JAX/Flax.")
  sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

  p = sub.add_parser("schemes", help="list the initializers, their aliases, the whole-network "
                       "schemes and the activations")
  p.set_defaults(func=_cmd_schemes)

  p = sub.add_parser("sample", help="draw one array and compare its statistics with the target")
  p.add_argument("name", nargs="?", default="he_normal",
                 help="scheme name or call, e.g. he_normal or 'normal(stddev=0.5)' (default he_normal)")
  p.add_argument("--shape", default="784,128",
                 help="comma-separated dims in the Flax layout (..., in, out); default 784,128")
  p.add_argument("--seed", type=int, default=0, help="PRNG seed for jax.random.key (default 0)")
  p.add_argument("--dtype", default="float32",
                 help="float32 (default), float64, float16 or bfloat16")
  p.add_argument("--plot", metavar="FILE", help="write a histogram (.png, .pdf or .svg)")
  p.set_defaults(func=_cmd_sample)

  p = sub.add_parser("theory", help="critical point, depth scales and kernel of an activation",
                     description="Infinite-width signal propagation (PDLT ch. 4-5): the critical "
                     "initialization (C_b, C_W), the fixed point K*, chi_par, chi_perp, the depth "
                     "scales and the kernel K(l) through depth, at criticality or at --C-b/--C-W.")
  p.add_argument("activation", help="activation name, e.g. tanh, relu, gelu, 'leaky_relu(0.2)'")
  p.add_argument("--C-b", dest="C_b", type=float, help="bias variance (default: critical)")
  p.add_argument("--C-W", dest="C_W", type=float, help="weight variance x fan_in (default: critical)")
  p.add_argument("--K1", type=float, default=1.0, help="first layer's kernel K(1) (default 1)")
  p.add_argument("--depths", default="1,2,5,10,20,50", help="layers to print K(l) at")
  p.add_argument("--phase-diagram", metavar="FILE", help="write the (C_W, C_b) phase diagram")
  p.set_defaults(func=_cmd_theory)

  p = sub.add_parser(
      "diagnose", help="per-layer statistics and histograms of a population at initialization",
      description="Weights, preactivations, activations and gradients of every layer of every "
      "member (schemes x seeds x scales) at initialization, on a batch of the data: a table, "
      "diagnostics.json/csv and histogram, kernel and Jacobian-spectrum figures.")
  _add_population_flags(p)
  p.add_argument("--examples", type=int, default=256, help="training examples used (default 256)")
  p.add_argument("--bins", type=int, default=50, help="histogram bins (default 50)")
  p.add_argument("--out", default="runs", help="parent folder of the output folder (default runs)")
  p.add_argument("--name", help="output folder name (default diagnose-<data>-<model>)")
  p.add_argument("--overwrite", action="store_true", help="replace the output folder")
  p.set_defaults(func=_cmd_diagnose)

  p = sub.add_parser(
      "sweep", help="train a population (schemes x seeds x lr x momentum x scale) in one program",
      description="With no flags: the moons study (2-12-6-1 ReLU MLP, sigmoid output; zeros, "
      "normal(stddev=10), he_normal x 32 seeds; full-batch SGD + momentum). Flags left out take the "
      "defaults of the chosen --data and --model.")
  _add_population_flags(p)
  p.add_argument("--epochs", type=int, help="epochs (default 300 for toy sets, 5 for images)")
  p.add_argument("--batch-size", help="examples per step, or 'full' (default: full for toy sets, "
                 "128 for images)")
  p.add_argument("--lr", help="learning rate(s), comma-separated (default 0.1 toy, 0.01 images)")
  p.add_argument("--momentum", help="SGD momentum value(s), comma-separated (default 0.9)")
  p.add_argument("--shuffle", choices=("shared", "member"),
                 help="minibatch order: shared by all members (default) or per member seed")
  p.add_argument("--order-seed", type=int, help="seed of the shared minibatch order (default 0)")
  p.add_argument("--precision", choices=("highest", "tf32", "bf16"),
                 help="matmul precision (default highest; recorded in the run's config)")
  p.add_argument("--out", default="runs", help="parent folder of the run folder (default runs)")
  p.add_argument("--name", help="run folder name (default <data>-<model>)")
  p.add_argument("--resume", action="store_true", help="continue the run in the folder")
  p.add_argument("--overwrite", action="store_true", help="replace the run in the folder")
  p.add_argument("--checkpoint-seconds", type=float, default=30.0,
                 help="save the train state at most this often (default 30; 0 = every epoch)")
  p.add_argument("--max-members-per-chunk", type=int,
                 help="train at most this many members at a time (default: sized from the "
                 "devices' free memory; all at once on the CPU)")
  p.add_argument("--distributed", action="store_true",
                 help="several processes: jax.distributed.initialize() as the cluster provides it")
  p.add_argument("--coordinator", help="several processes: the coordinator's HOST:PORT")
  p.add_argument("--num-processes", type=int, help="several processes: how many")
  p.add_argument("--process-id", type=int, help="several processes: this one's index (0 writes)")
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  p.add_argument("--no-figures", action="store_true", help="skip the figures")
  p.set_defaults(func=_cmd_sweep)
  return parser


def main(argv: list[str] | None = None) -> int:
  """Runs the command line on ``argv`` (default ``sys.argv[1:]``) and returns the exit status."""
  argv = list(sys.argv[1:] if argv is None else argv)
  # argparse reads "--shape -1,4" as an option with no value; pass it on so _parse_shape explains.
  for i in range(len(argv) - 1):
    if argv[i] == "--shape" and argv[i + 1].startswith("-"):
      argv[i:i + 2] = [f"--shape={argv[i + 1]}"]
      break
  try:
    args = _parser().parse_args(argv)
  except SystemExit as e:  # --help (0) or a usage error (2), already printed by argparse
    return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
  try:
    return args.func(args)
  except (ValueError, TypeError, ArithmeticError) as e:
    print(f"jaxinit: error: {e}", file=sys.stderr)
    return 2
  except OSError as e:
    print(f"jaxinit: error: {e}", file=sys.stderr)
    return 1


if __name__ == "__main__":
  raise SystemExit(main())
