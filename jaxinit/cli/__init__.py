"""The ``jaxinit`` command line: each command parses its flags, builds a frozen config, calls one
library entry point and prints what it returns (no computation, folder rule or table here).

========== =============================================================
command    library entry point
========== =============================================================
schemes    :func:`jaxinit.studies.describe.catalog`; with ``--bib``,
           :func:`jaxinit.schemes.references.bibliography`
sample     :func:`jaxinit.studies.describe.describe`
theory     :func:`jaxinit.studies.criticality.summarize`
diagnose   :func:`jaxinit.studies.diagnose.run`
sweep      :func:`jaxinit.studies.sweep.run`; with ``--width`` several,
           :func:`jaxinit.studies.width_sweep.run`
coordcheck :func:`jaxinit.studies.coordcheck.study`
========== =============================================================

Exit status (also in ``jaxinit --help``): 0 done; 2 bad input, missing or wrong data, a population
too large for the memory, a folder the rules refuse; 1 an internal error (a bug: the traceback is
printed); 130/143 a sweep stopped by SIGINT/SIGTERM after saving a checkpoint; a closed output pipe
(``jaxinit theory tanh | head -1``) ends quietly.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

from jaxinit import names
from jaxinit.cli import flags
from jaxinit.results import folders
from jaxinit.studies import describe

__all__ = ["main", "entry"]


def _given(args: argparse.Namespace, parse: dict[str, Callable[[str, str], Any]],
           keys: tuple[str, ...]) -> dict[str, Any]:
  """The settings given by flags (not None), each parsed by ``parse[key]`` where it has a
  grammar (the message names the flag as typed)."""
  out = {}
  for key in keys:
    value = getattr(args, key)
    if value is not None:
      out[key] = parse[key](value, _flag(key)) if key in parse else value
  return out


def _flag(key: str) -> str:
  """The flag that sets ``args.<key>``, as typed."""
  return {"lrs": "--lr", "momenta": "--momentum"}.get(key, "--" + key.replace("_", "-"))


_LISTS: dict[str, Callable[[str, str], Any]] = {
    "widths": names.ints, "channels": names.ints, "width": names.ints, "seeds": names.seeds,
    "scales": names.floats, "lrs": names.floats, "momenta": names.floats,
    "schemes": lambda text, flag: tuple(names.split_list(text, flag))}
_POPULATION = ("widths", "channels", "activation", "batch_norm", "branch_multiplier", "schemes",
               "seeds", "scales", "data_seed", "normalize", "parametrization")
_TRAINING = ("epochs", "shuffle", "order_seed", "optimizer", "schedule", "loss", "eval_every",
             "precision")
_SWEEP = ("data", "model", "model_args", *_POPULATION, "width", "lrs", "momenta", *_TRAINING,
          "batch_size")
"""The ``sweep`` flags that set its config (None or False when not given)."""


def _sweep_config(args: argparse.Namespace) -> Any:
  """The sweep's config: the one saved in ``--config`` (no flag that sets a config may come with
  it), else the dataset/model defaults overridden by the flags given."""
  from jaxinit.studies import sweep

  if args.config is not None:
    given = [_flag(key) for key in _SWEEP if getattr(args, key) not in (None, False)]
    if given:
      raise ValueError(f"--config reruns the sweep saved in {args.config} as it is; {', '.join(given)} "
                       "would change it: leave them out, or edit a copy of the config file")
    return sweep.load_config(args.config)
  train = _given(args, {}, _TRAINING)
  if args.batch_size is not None:
    train["batch_size"] = (None if args.batch_size == "full"
                           else names.ints(args.batch_size, "--batch-size")[0])
  return sweep.configure(**_given(args, {}, ("data", "model")), train=train,
                         model_args=args.model_args,
                         **_given(args, _LISTS, (*_POPULATION, "width", "lrs", "momenta")))


def _cmd_schemes(args: argparse.Namespace) -> int:
  if args.bib:
    from jaxinit.schemes import references

    print(references.bibliography(args.names))
  elif args.names:
    raise ValueError(f"scheme names ({' '.join(args.names)}) are read only with --bib; accepted: "
                     "jaxinit schemes, or jaxinit schemes --bib [NAME ...]")
  else:
    print("\n".join(describe.catalog()))
  return 0


def _cmd_sample(args: argparse.Namespace) -> int:
  shape = describe.parse_shape(args.shape)
  if args.plot is not None:
    from jaxinit.results import plots

    plots.check_path(args.plot, parent_exists=True)
    if 0 in shape:
      raise ValueError(f"--plot needs a non-empty draw; shape {shape} has no entries")
  d = describe.describe(args.name, shape, seed=args.seed, dtype=args.dtype)
  print("\n".join(d.lines()))
  if args.plot is not None:
    plots.sample_histogram(d.draw, d.target, d.name, args.plot)
    print(f"histogram written to {args.plot}")
  return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
  from jaxinit.engine import sharding
  from jaxinit.studies import sweep, width_sweep

  sharding.initialize_distributed(args.coordinator, args.num_processes, args.process_id,
                                  auto=args.distributed)
  config = _sweep_config(args)
  folder = folders.resolve(args.out, f"{folders.slug(config.data)}-{sweep.model_slug(config.model)}"
                           if args.name is None else args.name)
  common = dict(data_dir=args.data_dir, resume=args.resume, overwrite=args.overwrite,
                checkpoint_seconds=args.checkpoint_seconds,
                keep_checkpoints=args.keep_checkpoints, quiet=args.quiet,
                max_members_per_chunk=args.max_members_per_chunk, figures=not args.no_figures,
                log=args.log)
  widths = names.ints(args.width, "--width") if args.width is not None else ()
  result: Any
  if len(widths) > 1:
    result = width_sweep.run(config, widths, folder, **common)
    seconds = sum(r.record["wall_s"]["total"] for r in result.results.values())
    where = f"each width's run in {folder}/width_<n>, tables by width in {folder}"
  else:
    result = sweep.run(config, folder, **common)
    seconds, where = result.record["wall_s"]["total"], f"records, tables and figures in {folder}"
  print(result.markdown, end="")
  print(f"\n{seconds:.1f} s; {where}")
  return 0


def _cmd_coordcheck(args: argparse.Namespace) -> int:
  from jaxinit.studies import coordcheck

  settings = _given(args, _LISTS, ("width", "seeds", "data", "optimizer", "lr", "steps", "batch",
                                   "scheme"))
  checks = coordcheck.configs(names.split_list(args.parametrization, "--parametrization"),
                              settings.pop("width", None), layers=args.layers,
                              activation=args.activation, model=args.model,
                              model_args=args.model_args, **settings)
  folder = folders.resolve(args.out, args.name)
  paths = coordcheck.study(checks, folder, data_dir=args.data_dir, overwrite=args.overwrite)
  print(paths["md"].read_text(), end="")
  print(f"\nfigures, slopes and measurements in {folder}")
  return 0


def _cmd_theory(args: argparse.Namespace) -> int:
  from jaxinit.results import plots
  from jaxinit.studies import criticality

  path = (plots.check_path(args.phase_diagram, parent_exists=True)
          if args.phase_diagram is not None else None)
  summary = criticality.summarize(args.activation, C_b=args.C_b, C_W=args.C_W, K1=args.K1,
                                  depths=names.ints(args.depths, "--depths"))
  print(summary.text())
  if path is not None:
    print(f"\nphase diagram written to {criticality.phase_diagram(summary, path)}")
  return 0


def _cmd_diagnose(args: argparse.Namespace) -> int:
  from jaxinit.studies import diagnose, sweep

  base = sweep.configure(args.data, args.model, model_args=args.model_args,
                        **_given(args, _LISTS, _POPULATION))
  config = diagnose.DiagnoseConfig(
      data=base.data, data_seed=base.data_seed, normalize=base.normalize, model=base.model,
      schemes=base.schemes, seeds=base.seeds, scales=base.scales, examples=args.examples,
      bins=args.bins, ranges=args.ranges, batch_norm_mode=args.bn_mode)
  name = (f"diagnose-{folders.slug(config.data)}-{sweep.model_slug(config.model)}" if args.name is None
          else args.name)
  print(diagnose.run(config, folders.resolve(args.out, name), data_dir=args.data_dir,
                     overwrite=args.overwrite, figures=not args.no_figures).text())
  return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "schemes": _cmd_schemes, "sample": _cmd_sample, "theory": _cmd_theory,
    "diagnose": _cmd_diagnose, "sweep": _cmd_sweep, "coordcheck": _cmd_coordcheck}
"""Each command's runner: its parsed flags -> the exit status."""


def _os_error(e: OSError) -> str:
  """One line for a failed read or write: what failed, where, and what to do."""
  what = (e.strerror or str(e)) + (f": {e.filename}" if e.filename else "")
  hint = {errno.ENOSPC: "free space, then continue a sweep with --resume (its last checkpoint "
                        "and records are kept)",
          errno.EROFS: "choose a writable folder with --out",
          errno.EACCES: "choose a folder you may write with --out"}.get(e.errno or 0)
  return what + (f"; {hint}" if hint else "")


def entry() -> None:
  """The ``jaxinit`` executable: :func:`main`, then exit with its status. After a stop by a signal
  (130, 143) a further Ctrl-C during the interpreter's teardown (JAX's atexit handlers) would only
  print a traceback, so it is ignored."""
  code = main()
  if code >= 128:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
  raise SystemExit(code)


def _quiet_pipe() -> int:
  """stdout was closed by its reader (``| head``): silence the rest and exit as SIGPIPE would."""
  devnull = os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, sys.stdout.fileno())
  return 141


def main(argv: list[str] | None = None) -> int:
  """Runs the command line on ``argv`` (default ``sys.argv[1:]``) and returns the exit status
  (:data:`jaxinit.cli.flags.EXIT_CODES`)."""
  from jaxinit.engine import signals

  argv = list(sys.argv[1:] if argv is None else argv)
  # argparse reads "--shape -1,4" as an option with no value; pass it on so parse_shape explains.
  for i in range(len(argv) - 1):
    if argv[i] == "--shape" and argv[i + 1].startswith("-"):
      argv[i:i + 2] = [f"--shape={argv[i + 1]}"]
      break
  try:
    args = flags.parser().parse_args(argv)
  except SystemExit as e:  # --help (0) or a usage error (2), already printed by argparse
    return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
  try:
    code = COMMANDS[args.command](args)
    sys.stdout.flush()
    return code
  except BrokenPipeError:
    return _quiet_pipe()
  except signals.Interrupted as e:
    return e.exit_code
  except KeyboardInterrupt:  # outside a sweep's epochs (loading data, compiling): nothing to save
    print("jaxinit: interrupted", file=sys.stderr)
    return 130
  except (ValueError, TypeError, ArithmeticError) as e:
    print(f"jaxinit: error: {e}", file=sys.stderr)
    return 2
  except OSError as e:  # a full disk, a read-only or missing folder, no permission
    print(f"jaxinit: error: {_os_error(e)}", file=sys.stderr)
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
