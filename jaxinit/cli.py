"""The ``jaxinit`` command line: each command parses its flags, builds a frozen config, calls one
library entry point and prints what it returns (no computation, folder rule or table here).

=========  ==============================================================
command    library entry point
=========  ==============================================================
schemes    :func:`jaxinit.describe.catalog`
sample     :func:`jaxinit.describe.describe`
theory     :func:`jaxinit.theory_summary.summarize`
diagnose   :func:`jaxinit.diagnose.run`
sweep      :func:`jaxinit.sweep.run`; with ``--width`` several,
           :func:`jaxinit.width_sweep.run`
coordcheck :func:`jaxinit.coordcheck.run`, :func:`jaxinit.coordcheck.write`
=========  ==============================================================

Exit status (also in ``jaxinit --help``): 0 done; 2 bad input, missing or wrong data, a population
too large for the memory, a folder the rules refuse; 1 an internal error (a bug: the traceback is
printed); 130/143 a sweep stopped by SIGINT/SIGTERM after saving a checkpoint; a closed output pipe
(``jaxinit theory tanh | head -1``) ends quietly.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from jaxinit import data as datasets
from jaxinit import describe, diagnostics, folders, names, parametrizations, population

__all__ = ["main"]

EXIT_CODES = """exit status:
  0        done
  2        bad input, missing or wrong data, not enough memory, a refused output folder
  1        internal error (a bug; the traceback is printed)
  130/143  sweep stopped by SIGINT/SIGTERM after checkpointing (continue with --resume)"""


def _number(kind: Callable[[str], Any], minimum: float, strict: bool = False,
            maximum: float | None = None) -> Callable[[str], Any]:
  """An argparse type: ``kind(text)`` checked against a range (argparse reports the error)."""
  def parse(text: str) -> Any:
    try:
      value = kind(text)
    except ValueError:
      raise argparse.ArgumentTypeError(
          f"{text!r} is not a{'n int' if kind is int else ' number'}") from None
    low_ok = value > minimum if strict else value >= minimum
    if not low_ok or value != value or (maximum is not None and value >= maximum):
      bound = f"{'>' if strict else '>='} {minimum:g}" + (
          f" and < {maximum:g}" if maximum is not None else "")
      raise argparse.ArgumentTypeError(f"{text} is out of range; accepted: {bound}")
    return value
  parse.__name__ = kind.__name__  # argparse names the type in its messages
  return parse


SEED = _number(int, 0, maximum=population.MAX_SEED)


def _cmd_schemes(args: argparse.Namespace) -> int:
  print("\n".join(describe.catalog()))
  return 0


def _cmd_sample(args: argparse.Namespace) -> int:
  shape = describe.parse_shape(args.shape)
  if args.plot is not None:
    from jaxinit import plots  # here, so that the other commands do not pay for matplotlib

    plots.check_path(args.plot)
    if 0 in shape:
      raise ValueError(f"--plot needs a non-empty draw; shape {shape} has no entries")
  d = describe.describe(args.name, shape, seed=args.seed, dtype=args.dtype)
  print("\n".join(d.lines()))
  if args.plot is not None:
    plots.sample_histogram(d.draw, d.target, d.name, args.plot)
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
  if (args.widths is not None or args.channels is not None or args.activation or args.batch_norm
      or args.branch_multiplier is not None):
    model = models.ModelConfig(
        kind=args.model,
        widths=_ints(args.widths, "--widths") if args.widths is not None else model.widths,
        activation=args.activation or model.activation, batch_norm=args.batch_norm,
        channels=_ints(args.channels, "--channels") if args.channels is not None else model.channels,
        branch_multiplier=args.branch_multiplier or model.branch_multiplier)
  widths = _hidden_widths(args, model)
  if widths:
    model = model.at_width(widths[0])
  if args.parametrization is not None:
    base_width = min(widths) if widths else model.widths[0]
    model = dataclasses.replace(model, parametrization=parametrizations.with_base(
        args.parametrization, base_width))
  grid: dict[str, Any] = {}
  if args.schemes is not None:
    grid["schemes"] = tuple(names.split_list(args.schemes, "--schemes"))
  if args.seeds is not None:
    grid["seeds"] = _seeds(args.seeds)
  if args.scales is not None:
    grid["scales"] = _floats(args.scales, "--scales")
  if args.data_seed is not None:
    grid["data_seed"] = args.data_seed
  if args.normalize is not None:
    grid["normalize"] = args.normalize
  return dataclasses.replace(base, model=model, **grid)


def _hidden_widths(args: argparse.Namespace, model: Any) -> tuple[int, ...]:
  """The ``--width`` values (hidden widths of a width sweep), or ``()`` when not given."""
  if getattr(args, "width", None) is None:
    return ()
  if model.kind == "cnn":
    raise ValueError("--width sets the hidden widths of an mlp or resmlp; a cnn has channels")
  return _ints(args.width, "--width")


def _sweep_config(args: argparse.Namespace) -> Any:
  """The sweep's config: the dataset/model defaults, overridden by the flags given."""
  base = _population_config(args)
  changes: dict[str, Any] = {k: v for k, v in (("epochs", args.epochs), ("shuffle", args.shuffle),
                                                ("order_seed", args.order_seed),
                                                ("optimizer", args.optimizer),
                                                ("schedule", args.schedule),
                                                ("loss", args.loss),
                                                ("eval_every", args.eval_every),
                                                ("precision", args.precision)) if v is not None}
  if args.batch_size is not None:
    changes["batch_size"] = None if args.batch_size == "full" else _ints(args.batch_size,
                                                                        "--batch-size")[0]
  grid = {field: _floats(getattr(args, flag), f"--{flag}")
          for flag, field in (("lr", "lrs"), ("momentum", "momenta"))
          if getattr(args, flag) is not None}
  return dataclasses.replace(base, train=dataclasses.replace(base.train, **changes), **grid)


def _distributed(args: argparse.Namespace) -> None:
  from jaxinit import sharding

  sharding.initialize_distributed(args.coordinator, args.num_processes, args.process_id,
                                  auto=args.distributed)


def _cmd_sweep(args: argparse.Namespace) -> int:
  from jaxinit import sweep, width_sweep

  _distributed(args)
  config = _sweep_config(args)
  name = f"{folders.slug(config.data)}-{config.model.kind}" if args.name is None else args.name
  folder = folders.resolve(args.out, name)
  common = dict(data_dir=args.data_dir, resume=args.resume, overwrite=args.overwrite,
                checkpoint_seconds=args.checkpoint_seconds,
                max_members_per_chunk=args.max_members_per_chunk, quiet=args.quiet,
                figures=not args.no_figures)
  widths = _hidden_widths(args, config.model)
  if len(widths) > 1:
    result = width_sweep.run(config, widths, folder, **common)
    print(result.markdown, end="")
    seconds = sum(r.record["wall_s"]["total"] for r in result.results.values())
    print(f"\n{seconds:.1f} s; each width's run in {folder}/width_<n>, tables by width in {folder}")
    return 0
  result = sweep.run(config, folder, **common)
  print(result.markdown, end="")
  print(f"\n{result.record['wall_s']['total']:.1f} s; records, tables and figures in {folder}")
  return 0


def _cmd_coordcheck(args: argparse.Namespace) -> int:
  from jaxinit import coordcheck, models, sweep

  widths = _ints(args.width, "--width")
  classes = sweep.default_config(args.data, "mlp").model.num_outputs
  checks = {}
  for name in names.split_list(args.parametrization, "--parametrization"):
    parametrization = parametrizations.with_base(name, min(widths))
    model = models.ModelConfig(widths=(widths[0],) * args.layers + (classes,),
                               activation=args.activation, parametrization=parametrization)
    config = coordcheck.CoordCheckConfig(
        model=model, widths=widths, data=args.data, optimizer=args.optimizer, lr=args.lr,
        steps=args.steps, batch=args.batch, seeds=_seeds(args.seeds), scheme=args.scheme)
    checks[parametrization] = coordcheck.run(config, data_dir=args.data_dir)
  folder = folders.resolve(args.out, args.name)
  paths = coordcheck.write(checks, folder)
  print(paths["md"].read_text(), end="")
  print(f"\nfigures, slopes and measurements in {folder}")
  return 0


def _cmd_theory(args: argparse.Namespace) -> int:
  from jaxinit import plots, theory_summary

  path = plots.check_path(args.phase_diagram) if args.phase_diagram is not None else None
  summary = theory_summary.summarize(args.activation, C_b=args.C_b, C_W=args.C_W, K1=args.K1,
                                     depths=_ints(args.depths, "--depths"))
  print(summary.text())
  if path is not None:
    print(f"\nphase diagram written to {theory_summary.phase_diagram(summary, path)}")
  return 0


def _cmd_diagnose(args: argparse.Namespace) -> int:
  from jaxinit import diagnose

  base = _population_config(args)
  config = diagnose.DiagnoseConfig(
      data=base.data, data_seed=base.data_seed, normalize=base.normalize, model=base.model,
      schemes=base.schemes, seeds=base.seeds, scales=base.scales, examples=args.examples,
      bins=args.bins, ranges=args.ranges, batch_norm_mode=args.bn_mode)
  name = (f"diagnose-{folders.slug(config.data)}-{config.model.kind}" if args.name is None
          else args.name)
  folder = folders.resolve(args.out, name)
  print(diagnose.run(config, folder, data_dir=args.data_dir, overwrite=args.overwrite,
                     figures=not args.no_figures).text())
  return 0


def _add_population_flags(p: argparse.ArgumentParser) -> None:
  """The data, model and population flags shared by ``sweep`` and ``diagnose``."""
  p.add_argument("--data", default="moons", help="moons (default), circles, mnist, fashion_mnist, "
                 "gaussian(dim=784, n=1024, n_test=256, classes=10) (N(0, 1) inputs, random labels)")
  p.add_argument("--normalize", choices=datasets.NORMALIZATIONS,
                 help="inputs: standard (train mean/std; one scalar for images, per feature for "
                 "vectors; the default), per_feature (per pixel), unit (pixels / 255), none (raw; "
                 "gaussian's default)")
  p.add_argument("--data-dir", help="folder of the IDX files for mnist/fashion_mnist "
                 "(default: $JAXINIT_DATA_DIR, else tensorflow-datasets)")
  p.add_argument("--data-seed", type=SEED, help="seed of the toy datasets (default 0)")
  p.add_argument("--model", default="mlp", choices=("mlp", "cnn", "resmlp"),
                 help="mlp (default), cnn, or resmlp (residual MLP: input projection, blocks of two "
                 "dense layers, readout)")
  p.add_argument("--widths", help="dense widths, the last = number of logits (1 = binary), "
                 "e.g. 12,6,1; a resmlp with L blocks has (n,) * (1 + 2L) + (logits,), e.g. "
                 "64,64,64,64,64,10")
  p.add_argument("--branch-multiplier", choices=("1", "1/sqrt(depth)"),
                 help="resmlp: the constant on every residual branch (default 1; 1/sqrt(depth) is "
                 "depth-muP's)")
  p.add_argument("--channels", help="cnn convolution channels, e.g. 16,32")
  p.add_argument("--activation", help="hidden activation, e.g. relu, tanh, 'leaky_relu(0.2)'")
  p.add_argument("--batch-norm", action="store_true", help="BatchNorm after every hidden layer")
  p.add_argument("--schemes", help="comma-separated scheme names (initializers or critical(ACT), "
                 "lsuv(...), metainit(...); for a resmlp also skipinit, rezero, fixup), e.g. "
                 "'zeros,normal(stddev=10),he_normal,critical(tanh)'")
  p.add_argument("--seeds", help="a count N (seeds 0..N-1, default 32), a range A:B or a list 1,4,9")
  p.add_argument("--scales", help="init scale(s) multiplying every kernel (default 1.0)")
  p.add_argument("--parametrization", help="how init, forward multipliers and learning rates scale "
                 "with the hidden width: sp (default), ntk, mup, mean_field; base width: "
                 "'mup(base_width=64)', or by default the smallest --width (else the first width)")


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="jaxinit", description="Weight initialization schemes in JAX/Flax.", epilog=EXIT_CODES,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

  p = sub.add_parser("schemes", help="list the initializers, their aliases, the whole-network "
                       "schemes and the activations")
  p.set_defaults(func=_cmd_schemes)

  p = sub.add_parser("sample", help="draw one array and compare its statistics with the target")
  p.add_argument("name", nargs="?", default="he_normal",
                 help="scheme name or call, e.g. he_normal or 'normal(stddev=0.5)' (default he_normal)")
  p.add_argument("--shape", default="784,128",
                 help="comma-separated dims in the Flax layout (..., in, out); default 784,128")
  p.add_argument("--seed", type=int, default=0,
                 help="PRNG seed for jax.random.key, in [0, 2^32) (default 0)")
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
  p.add_argument("--C-W", dest="C_W", type=float,
                 help="weight variance x fan_in (default: critical; given alone, C_b = 0)")
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
  p.add_argument("--examples", type=_number(int, 1), default=256,
                 help="training examples used (default 256)")
  p.add_argument("--bins", type=_number(int, 1), default=50, help="histogram bins (default 50)")
  p.add_argument("--ranges", choices=diagnostics.RANGES, default="layer",
                 help="histogram ranges: each layer its own (default) or one shared by all layers")
  p.add_argument("--bn-mode", choices=diagnostics.BATCH_NORM_MODES, default="train",
                 help="BatchNorm with the batch's statistics (train, default) or the running ones")
  p.add_argument("--no-figures", action="store_true", help="only the table, JSON and CSV")
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
  p.add_argument("--width", help="hidden width(s): every hidden layer of the model at this width; "
                 "several (64,128,256) run one sweep per width into <name>/width_<n> and tables "
                 "by width (the readout keeps its width)")
  p.add_argument("--epochs", type=_number(int, 1),
                 help="epochs (default 300 for toy sets, 5 for images)")
  p.add_argument("--eval-every", type=_number(int, 1), help="evaluate and record every N epochs "
                 "and after the last (default 1); the epochs between run in one compiled call")
  p.add_argument("--batch-size", help="examples per step, or 'full' (default: full for toy sets, "
                 "128 for images)")
  p.add_argument("--lr", help="learning rate(s), comma-separated (default 0.1 toy, 0.01 images)")
  p.add_argument("--optimizer", help="momentum (default: SGD + heavy ball), sgd, nesterov, adam, "
                 "adamw, rmsprop, with constants as in 'adam(b2=0.99)'; lr and momentum per member")
  p.add_argument("--schedule", help="learning-rate schedule over the run: constant (default), "
                 "cosine(alpha=0.0), warmup_cosine(warmup=0.05, alpha=0.0)")
  p.add_argument("--loss", choices=("cross_entropy", "mse"),
                 help="cross_entropy (default) or mse: half the squared error on one-hot targets")
  p.add_argument("--momentum", help="momentum value(s) of momentum/nesterov, comma-separated "
                 "(default 0.9; other optimizers ignore it)")
  p.add_argument("--shuffle", choices=("shared", "member"),
                 help="minibatch order: shared by all members (default) or per member seed")
  p.add_argument("--order-seed", type=SEED, help="seed of the shared minibatch order (default 0)")
  p.add_argument("--precision", choices=("highest", "tf32", "bf16"),
                 help="matmul precision (default highest; recorded in the run's config)")
  p.add_argument("--out", default="runs", help="parent folder of the run folder (default runs)")
  p.add_argument("--name", help="run folder name (default <data>-<model>)")
  p.add_argument("--resume", action="store_true", help="continue the run in the folder")
  p.add_argument("--overwrite", action="store_true", help="replace the run in the folder")
  p.add_argument("--checkpoint-seconds", type=_number(float, 0), default=30.0,
                 help="save the train state at most this often (default 30; 0 = every epoch)")
  p.add_argument("--max-members-per-chunk", type=_number(int, 1),
                 help="train at most this many members at a time (default: sized from the "
                 "devices' free memory, or the host's on the CPU)")
  p.add_argument("--distributed", action="store_true",
                 help="several processes: jax.distributed.initialize() as the cluster provides it")
  p.add_argument("--coordinator", help="several processes: the coordinator's HOST:PORT")
  p.add_argument("--num-processes", type=_number(int, 1), help="several processes: how many")
  p.add_argument("--process-id", type=_number(int, 0),
                 help="several processes: this one's index (0 writes)")
  p.add_argument("--quiet", action="store_true", help="no progress bar (messages still on stderr)")
  p.add_argument("--no-figures", action="store_true", help="skip the figures")
  p.set_defaults(func=_cmd_sweep)

  p = sub.add_parser(
      "coordcheck", help="coordinate check: each layer's activation size and change vs width",
      description="Trains each parametrization's MLP at each width for a few full-batch steps on "
      "one fixed batch and measures the RMS of every layer's preactivation and of its change since "
      "initialization; prints the log-log slopes against width (0: width-stable) and writes the "
      "figures (microsoft/mup's coord check).")
  p.add_argument("--parametrization", default="sp,mup",
                 help="parametrization(s) to compare, comma-separated (default sp,mup; the base "
                 "width defaults to the smallest --width)")
  p.add_argument("--width", default="64,128,256,512,1024", help="hidden widths (default "
                 "64,128,256,512,1024)")
  p.add_argument("--layers", type=_number(int, 1), default=3, help="hidden layers (default 3)")
  p.add_argument("--activation", default="relu", help="hidden activation (default relu)")
  p.add_argument("--data", default="moons", help="dataset (default moons; mnist, ...)")
  p.add_argument("--data-dir", help="folder of the IDX files for mnist/fashion_mnist")
  p.add_argument("--optimizer", default="adam", help="optimizer (default adam)")
  p.add_argument("--lr", type=_number(float, 0, strict=True), default=0.01,
                 help="learning rate at the base width (default 0.01)")
  p.add_argument("--steps", type=_number(int, 1), default=5, help="training steps (default 5)")
  p.add_argument("--batch", type=_number(int, 2), default=64,
                 help="examples in the fixed batch (default 64)")
  p.add_argument("--seeds", default="4", help="seeds per width: a count, range or list (default 4)")
  p.add_argument("--scheme", default="he_normal", help="initialization scheme (default he_normal)")
  p.add_argument("--out", default="runs", help="parent folder of the output folder (default runs)")
  p.add_argument("--name", default="coordcheck", help="output folder name (default coordcheck)")
  p.set_defaults(func=_cmd_coordcheck)
  return parser


def _quiet_pipe() -> int:
  """stdout was closed by its reader (``| head``): silence the rest and exit as SIGPIPE would."""
  devnull = os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, sys.stdout.fileno())
  return 141


def main(argv: list[str] | None = None) -> int:
  """Runs the command line on ``argv`` (default ``sys.argv[1:]``) and returns the exit status
  (:data:`EXIT_CODES`)."""
  from jaxinit import signals

  argv = list(sys.argv[1:] if argv is None else argv)
  # argparse reads "--shape -1,4" as an option with no value; pass it on so parse_shape explains.
  for i in range(len(argv) - 1):
    if argv[i] == "--shape" and argv[i + 1].startswith("-"):
      argv[i:i + 2] = [f"--shape={argv[i + 1]}"]
      break
  try:
    args = _parser().parse_args(argv)
  except SystemExit as e:  # --help (0) or a usage error (2), already printed by argparse
    return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
  try:
    code = args.func(args)
    sys.stdout.flush()
    return code
  except BrokenPipeError:
    return _quiet_pipe()
  except signals.Interrupted as e:
    return e.exit_code
  except (ValueError, TypeError, ArithmeticError, FileNotFoundError, NotADirectoryError,
          IsADirectoryError, PermissionError) as e:
    print(f"jaxinit: error: {e}", file=sys.stderr)
    return 2
  except Exception as e:
    if "RESOURCE_EXHAUSTED" in str(e):  # memory the estimate did not foresee
      first = str(e).strip().splitlines()[0]
      print(f"jaxinit: error: out of memory ({first[:200]}); train fewer members at a time with "
            "--max-members-per-chunk, or fewer members", file=sys.stderr)
      return 2
    traceback.print_exc()
    print(f"jaxinit: internal error: {type(e).__name__}: {e}; please report it with the "
          "traceback above", file=sys.stderr)
    return 1


if __name__ == "__main__":
  raise SystemExit(main())
