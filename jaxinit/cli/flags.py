"""The ``jaxinit`` command line's flags: one parser function per command, each flag's default
read from the library object that owns it. :func:`parser` builds them all; :mod:`jaxinit.cli` runs
the command."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from jaxinit import data as datasets
from jaxinit.engine import population
from jaxinit.nets import parametrizations
from jaxinit.studies import measure

__all__ = ["parser", "EXIT_CODES", "SEED"]

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


def _flags(p: argparse.ArgumentParser, *specs: tuple[str, str, dict[str, Any]]) -> None:
  """Adds ``(flag, help, argparse keywords)`` triples."""
  for flag, help_, kwargs in specs:
    p.add_argument(flag, help=help_, **kwargs)


def _data_flags(p: argparse.ArgumentParser) -> None:
  _flags(p, ("--data", "moons (default), circles, mnist, fashion_mnist, gaussian(dim=784, n=1024, "
             "n_test=256, classes=10) (N(0, 1) inputs, random labels), tfds:NAME (a "
             "tensorflow-datasets image classification set, e.g. tfds:cifar10; pip install "
             "\"jaxinit[tfds]\"); any with validation=N, e.g. \"tfds:cifar10(validation=5000)\": N "
             "train examples held out by --data-seed are the test_* set", {"default": "moons"}),
         ("--data-dir", "folder of the IDX files for mnist/fashion_mnist (default: "
          "$JAXINIT_DATA_DIR, else tensorflow-datasets), or where tfds keeps its files for "
          "tfds:NAME (default: $TFDS_DATA_DIR, else ~/tensorflow_datasets)", {}))


def _output_flags(p: argparse.ArgumentParser, name: str, what: str = "output folder") -> None:
  _flags(p, ("--out", f"parent folder of the {what} (default runs)", {"default": "runs"}),
         ("--name", f"{what} name (default {name})", {}))


def _population_flags(p: argparse.ArgumentParser) -> None:
  """The data, model and population flags shared by ``sweep`` and ``diagnose``."""
  _data_flags(p)
  _flags(
      p, ("--normalize", "inputs: standard (train mean/std; one scalar for images, per feature for "
          "vectors; the default), per_feature (per pixel), unit (pixels / 255), none (raw; "
          "gaussian's default)", {"choices": datasets.NORMALIZATIONS}),
      ("--data-seed", "seed of the toy datasets (default 0)", {"type": SEED}),
      ("--model", "mlp (default), cnn, resmlp (residual MLP: input projection, blocks of two "
       "dense layers, readout), or your own model as package.module:factory (an nnx module class "
       "or function taking rngs, or a function returning a linen module)", {"default": "mlp"}),
      ("--model-args", "your model factory's arguments as a JSON object, e.g. '{\"width\": 128}' "
       "(the 'width' argument is what --width and --parametrization scale)", {}),
      ("--widths", "dense widths, the last = number of logits (1 = binary), e.g. 12,6,1; a resmlp "
       "with L blocks has (n,) * (1 + 2L) + (logits,), e.g. 64,64,64,64,64,10", {}),
      ("--branch-multiplier", "resmlp: the constant on every residual branch (default 1; "
       "1/sqrt(depth) is depth-muP's)", {"choices": ("1", "1/sqrt(depth)")}),
      ("--channels", "cnn convolution channels, e.g. 16,32", {}),
      ("--activation", "hidden activation, e.g. relu, tanh, 'leaky_relu(0.2)'", {}),
      ("--batch-norm", "BatchNorm after every hidden layer", {"action": "store_true"}),
      ("--schemes", "comma-separated scheme names (initializers or critical(ACT), lsuv(...), "
       "metainit(...); for a resmlp also skipinit, rezero, fixup), e.g. "
       "'zeros,normal(stddev=10),he_normal,critical(tanh)'", {}),
      ("--seeds", "a count N (seeds 0..N-1, default 32), a range A:B or a list 1,4,9", {}),
      ("--scales", "init scale(s) multiplying every kernel (default 1.0)", {}),
      ("--parametrization", "how init, forward multipliers and learning rates scale with the "
       f"hidden width: {', '.join(parametrizations.known())} (default sp); base width: "
       "'mup(base_width=64)', or by default the smallest --width (else the first width)", {}))


def _add_schemes(sub: Any) -> None:
  p = sub.add_parser("schemes", help="list the initializers, their aliases, the whole-network schemes "
                     "and the activations; with --bib, the schemes' papers in BibTeX")
  p.add_argument("names", nargs="*", metavar="NAME",
                 help="with --bib: only these schemes' papers, e.g. he_normal lsuv (default: all)")
  _flags(p, ("--bib", "print the BibTeX entries of the papers the schemes follow",
             {"action": "store_true"}))


def _add_sample(sub: Any) -> None:
  p = sub.add_parser("sample", help="draw one array and compare its statistics with the target")
  p.add_argument("name", nargs="?", default="he_normal",
                 help="scheme name or call, e.g. he_normal or 'normal(stddev=0.5)' (default he_normal)")
  _flags(p, ("--shape", "comma-separated dims in the Flax layout (..., in, out); default 784,128",
             {"default": "784,128"}),
         ("--seed", "PRNG seed for jax.random.key, in [0, 2^32) (default 0)",
          {"type": int, "default": 0}),
         ("--dtype", "float32 (default), float64, float16 or bfloat16", {"default": "float32"}),
         ("--plot", "write a histogram (.png, .pdf or .svg)", {"metavar": "FILE"}))


def _add_theory(sub: Any) -> None:
  p = sub.add_parser("theory", help="critical point, depth scales and kernel of an activation",
                     description="Infinite-width signal propagation (PDLT ch. 4-5): the critical "
                     "initialization (C_b, C_W), the fixed point K*, chi_par, chi_perp, the depth "
                     "scales and the kernel K(l) through depth, at criticality or at --C-b/--C-W.")
  p.add_argument("activation", help="activation name, e.g. tanh, relu, gelu, 'leaky_relu(0.2)'")
  _flags(p, ("--C-b", "bias variance (default: critical)", {"dest": "C_b", "type": float}),
         ("--C-W", "weight variance x fan_in (default: critical; given alone, C_b = 0)",
          {"dest": "C_W", "type": float}),
         ("--K1", "first layer's kernel K(1) (default 1)", {"type": float, "default": 1.0}),
         ("--depths", "layers to print K(l) at", {"default": "1,2,5,10,20,50"}),
         ("--phase-diagram", "write the (C_W, C_b) phase diagram", {"metavar": "FILE"}))


def _add_diagnose(sub: Any) -> None:
  p = sub.add_parser(
      "diagnose", help="per-layer statistics and histograms of a population at initialization",
      description="Weights, preactivations, activations and gradients of every layer of every "
      "member (schemes x seeds x scales) at initialization, on a batch of the data: a table, "
      "diagnostics.json/csv and histogram, kernel and Jacobian-spectrum figures.")
  _population_flags(p)
  _flags(p, ("--examples", "training examples used (default 256)",
             {"type": _number(int, 1), "default": 256}),
         ("--bins", "histogram bins (default 50)", {"type": _number(int, 1), "default": 50}),
         ("--ranges", "histogram ranges: each layer its own (default) or one shared by all layers",
          {"choices": measure.RANGES, "default": "layer"}),
         ("--bn-mode", "BatchNorm with the batch's statistics (train, default) or the running ones",
          {"choices": measure.BATCH_NORM_MODES, "default": "train"}),
         ("--no-figures", "only the table, JSON and CSV", {"action": "store_true"}),
         ("--overwrite", "replace the output folder", {"action": "store_true"}))
  _output_flags(p, "diagnose-<data>-<model>")


def _add_sweep(sub: Any) -> None:
  from jaxinit.engine import checkpoints, optimizers, train
  from jaxinit.results import metric_writer
  from jaxinit.studies import sweep

  toy, images = sweep.default_config("moons"), sweep.default_config("mnist")
  p = sub.add_parser(
      "sweep", help="train a population (schemes x seeds x lr x momentum x scale) in one program",
      description="With no flags: the moons study (2-12-6-1 ReLU MLP, sigmoid output; zeros, "
      "normal(stddev=10), he_normal x 32 seeds; full-batch SGD + momentum). Flags left out take the "
      "defaults of the chosen --data and --model.")
  _population_flags(p)
  several = "several processes:"
  _flags(
      p, ("--width", "hidden width(s): every hidden layer of the model at this width; several "
          "(64,128,256) run one sweep per width into <name>/width_<n> and tables by width (the "
          "readout keeps its width)", {}),
      ("--epochs", f"epochs (default {toy.train.epochs} for toy sets, {images.train.epochs} for "
       "images)", {"type": _number(int, 1)}),
      ("--eval-every", "evaluate and record every N epochs and after the last (default 1); the "
       "epochs between run in one compiled call", {"type": _number(int, 1)}),
      ("--batch-size", "examples per step, or 'full' (default: full for toy sets, "
       f"{images.train.batch_size} for images)", {}),
      ("--lr", f"learning rate(s), comma-separated (default {toy.lrs[0]:g} toy, "
       f"{images.lrs[0]:g} images)", {"dest": "lrs", "metavar": "LR"}),
      ("--optimizer", f"momentum (default: SGD + heavy ball), {', '.join(optimizers.known())}, "
       "with constants as in 'adam(b2=0.99)'; lr and momentum per member", {}),
      ("--schedule", "learning-rate schedule over the run: constant (default), cosine(alpha=0.0), "
       "warmup_cosine(warmup=0.05, alpha=0.0)", {}),
      ("--loss", "cross_entropy (default) or mse: half the squared error on one-hot targets",
       {"choices": ("cross_entropy", "mse")}),
      ("--momentum", f"momentum value(s) of momentum/nesterov, comma-separated (default "
       f"{toy.momenta[0]:g}; other optimizers ignore it)", {"dest": "momenta", "metavar": "MOMENTUM"}),
      ("--shuffle", "minibatch order: shared by all members (default) or per member seed",
       {"choices": train.SHUFFLES}),
      ("--order-seed", "seed of the shared minibatch order (default 0)", {"type": SEED}),
      ("--precision", "matmul precision (default highest; recorded in the run's config)",
       {"choices": tuple(train.PRECISIONS)}),
      ("--config", "rerun the sweep a run folder's config.json saves (the same records on the "
       "same machine): every setting comes from the file, and the flags that set one (--data, "
       "--seeds, --epochs, ...) are refused beside it (edit a copy of the file instead); --out, "
       "--name, --resume, --overwrite, --data-dir and the flags below apply", {"metavar": "PATH"}),
      ("--resume", "continue the run in the folder", {"action": "store_true"}),
      ("--overwrite", "replace the run in the folder", {"action": "store_true"}),
      ("--checkpoint-seconds", "save the train state at most this often (default 30; 0 = every "
       "epoch)", {"type": _number(float, 0), "default": 30.0}),
      ("--keep-checkpoints", f"keep the newest this many saved epochs (default {checkpoints.KEEP})",
       {"type": _number(int, 1), "default": checkpoints.KEEP}),
      ("--max-members-per-chunk", "train at most this many members at a time (default: sized "
       "from the devices' free memory, or the host's on the CPU)", {"type": _number(int, 1)}),
      ("--distributed", f"{several} jax.distributed.initialize() as the cluster provides it",
       {"action": "store_true"}),
      ("--coordinator", f"{several} the coordinator's HOST:PORT", {}),
      ("--num-processes", f"{several} how many", {"type": _number(int, 1)}),
      ("--process-id", f"{several} this one's index (0 writes)", {"type": _number(int, 0)}),
      ("--quiet", "no progress bar, nor progress lines when stderr is a file (messages still on "
       "stderr)", {"action": "store_true"}),
      ("--log", "also mirror each evaluated epoch's aggregates per scheme (and varied "
       "hyperparameter) to a metric writer: tensorboard writes <run folder>/tensorboard/ (pip "
       "install tensorboardX); records.jsonl stays the record",
       {"choices": metric_writer.LOGS}),
      ("--no-figures", "skip the figures", {"action": "store_true"}))
  _output_flags(p, "<data>-<model>", "run folder")
  p.set_defaults(data=None, model=None)  # configure's defaults; None tells --config none was given


def _add_coordcheck(sub: Any) -> None:
  from jaxinit.studies import coordcheck

  d = coordcheck.CoordCheckConfig()
  p = sub.add_parser(
      "coordcheck", help="coordinate check: each layer's activation size and change vs width",
      description="Trains each parametrization's MLP at each width for a few full-batch steps on "
      "one fixed batch and measures the RMS of every layer's preactivation and of its change since "
      "initialization; prints the log-log slopes against width (0: width-stable) and writes the "
      "figures (microsoft/mup's coord check).")
  _data_flags(p)
  _flags(
      p, ("--parametrization", "parametrization(s) to compare, comma-separated (default sp,mup; "
          "the base width defaults to the smallest --width)", {"default": "sp,mup"}),
      ("--width", f"hidden widths (default {','.join(map(str, d.widths))})", {}),
      ("--layers", "the MLP's hidden layers (default 3)", {"type": _number(int, 1), "default": 3}),
      ("--activation", "the MLP's hidden activation (default relu)", {"default": "relu"}),
      ("--model", "your own model instead of the MLP: package.module:factory, its 'width' argument "
       "set to each --width", {}),
      ("--model-args", "your model factory's other arguments as a JSON object", {}),
      ("--optimizer", f"optimizer (default {d.optimizer})", {}),
      ("--lr", f"learning rate at the base width (default {d.lr:g})",
       {"type": _number(float, 0, strict=True)}),
      ("--steps", f"training steps (default {d.steps})", {"type": _number(int, 1)}),
      ("--batch", f"examples in the fixed batch (default {d.batch})", {"type": _number(int, 2)}),
      ("--seeds", f"seeds per width: a count, range or list (default {len(d.seeds)})", {}),
      ("--scheme", f"initialization scheme (default {d.scheme})", {}),
      ("--overwrite", "replace the coordinate checks in the output folder", {"action": "store_true"}))
  _output_flags(p, "coordcheck")
  p.set_defaults(name="coordcheck")


def parser() -> argparse.ArgumentParser:
  """The ``jaxinit`` parser; ``args.command`` names the command given."""
  parser = argparse.ArgumentParser(
      prog="jaxinit", description="Weight initialization schemes in JAX/Flax.", epilog=EXIT_CODES,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
  for add in (_add_schemes, _add_sample, _add_theory, _add_diagnose, _add_sweep, _add_coordcheck):
    add(sub)
  return parser
