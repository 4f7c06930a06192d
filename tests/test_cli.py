"""Tests of the ``jaxinit`` command line: ``schemes`` and ``sample``, output and exit codes."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinit import activations, cli, initializers
from jaxinit.results import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
  code = cli.main(list(argv))
  out, err = capsys.readouterr()
  return code, out, err


def row(out: str, label: str) -> tuple[str, str]:
  """The (draw, target) cells of one statistics row of ``jaxinit sample``."""
  m = re.search(rf"^{label}\s+(\S+)\s+(\S+)", out, re.MULTILINE)
  assert m, f"no {label!r} row in:\n{out}"
  return m.group(1), m.group(2)


def field(out: str, label: str) -> str:
  m = re.search(rf"^{label}\s+(.+)$", out, re.MULTILINE)
  assert m, f"no {label!r} line in:\n{out}"
  return m.group(1)


# ----------------------------------------------------------------------------- schemes


def test_schemes_lists_every_scheme_with_formula_and_parameters(capsys):
  code, out, err = run(capsys, "schemes")
  assert code == 0 and err == ""
  block = out.split("\n\n")[0].splitlines()[1:]
  lines = {line.split()[0]: line for line in block}
  assert len(lines) == len(block) == len(initializers.known())
  for name in initializers.known():
    assert name in lines, name
    line = lines[name]
    assert initializers.get(name).formula in line
    for p in inspect.signature(initializers.FACTORIES[name]).parameters:
      assert f"{p}=" in line, (name, p)
  assert "gain=1.0, negative_slope=0.0, mode=fan_in" in lines["he_normal"]
  assert "scale=1.0, mode=fan_in, distribution=truncated_normal" in lines["variance_scaling"]
  assert lines["zeros"].rstrip().endswith("-")


def test_schemes_columns_are_aligned(capsys):
  _, out, _ = run(capsys, "schemes")
  block = out.split("\n\n")[0].splitlines()[1:]
  assert len(block) == len(initializers.known())
  starts = {line.index(initializers.get(line.split()[0]).formula) for line in block}
  assert len(starts) == 1


def test_schemes_lists_aliases_and_activations(capsys):
  _, out, _ = run(capsys, "schemes")
  for alias, canonical in initializers.ALIASES.items():
    assert f"  {alias} -> {canonical}\n" in out
  acts = out[out.index("activations ("):]
  for name in activations.known():
    assert re.search(rf"^  {name}\s", acts, re.MULTILINE), name
  assert re.search(r"^  leaky_relu\s+negative_slope=0.01$", acts, re.MULTILINE)
  for alias, canonical in activations.ALIASES.items():
    assert f"  {alias} -> {canonical}\n" in acts


# ----------------------------------------------------------------------------- sample


def test_sample_matches_the_library_draw(capsys):
  code, out, err = run(capsys, "sample", "he_normal", "--shape", "784,128", "--seed", "0")
  assert code == 0 and err == ""
  w = initializers.get("he_normal")(jax.random.key(0), (784, 128))
  assert field(out, "scheme") == "he_normal"
  assert field(out, "shape") == "(784, 128)"
  assert field(out, "dtype") == "float32"
  assert field(out, "fan_in") == "784" and field(out, "fan_out") == "128"
  for label, stat in [("mean", jnp.mean(w)), ("std", jnp.std(w)), ("variance", jnp.var(w)),
                      ("mean_sq", jnp.mean(w * w)), ("min", jnp.min(w)), ("max", jnp.max(w))]:
    assert row(out, label)[0] == f"{float(stat):.6g}", label
  assert float(row(out, "std")[0]) == pytest.approx(float(jnp.std(w)), rel=1e-5)
  assert row(out, "variance")[1] == f"{2 / 784:.6g}"
  assert float(row(out, "variance")[1]) == pytest.approx(2 / 784, rel=1e-5)
  assert float(row(out, "std")[1]) == pytest.approx((2 / 784) ** 0.5, rel=1e-5)
  assert row(out, "mean")[1] == "0"
  assert "target (normal)" in out and "note:" not in out


def test_sample_defaults_are_he_normal_784_128_seed_0(capsys):
  _, default, _ = run(capsys, "sample")
  _, explicit, _ = run(capsys, "sample", "he_normal", "--shape", "784,128", "--seed", "0")
  assert default == explicit
  _, other_seed, _ = run(capsys, "sample", "--seed", "1")
  assert row(other_seed, "std")[0] != row(default, "std")[0]


def test_sample_alias_prints_canonical_name_and_bounds(capsys):
  code, out, _ = run(capsys, "sample", "kaiming_uniform", "--shape", "3,3,16,32")
  assert code == 0
  assert field(out, "scheme") == "he_uniform"
  assert field(out, "fan_in") == "144" and field(out, "fan_out") == "288"
  bound = (3 * 2 / 144) ** 0.5
  assert float(row(out, "max")[1]) == pytest.approx(bound, rel=1e-5)
  assert float(row(out, "min")[1]) == pytest.approx(-bound, rel=1e-5)
  assert float(row(out, "max")[0]) <= bound


@pytest.mark.parametrize("name,shape", [("orthogonal", "64,32"), ("delta_orthogonal", "3,3,8,16"),
                                        ("identity", "5,7")])
def test_sample_structured_families_state_mean_square(capsys, name, shape):
  code, out, _ = run(capsys, "sample", name, "--shape", shape)
  assert code == 0
  assert f"note: {name} entries are not independent" in out and "exact mean square" in out
  draw_ms, target_ms = row(out, "mean_sq")
  assert float(draw_ms) == pytest.approx(float(target_ms), rel=1e-5)
  if name == "identity":  # deterministic: mean and variance are exact too
    for stat in ("mean", "variance"):
      assert float(row(out, stat)[0]) == pytest.approx(float(row(out, stat)[1]), rel=1e-5)


def test_sample_float64_and_bfloat16(capsys):
  code, out, _ = run(capsys, "sample", "normal", "--shape", "50,40", "--dtype", "float64")
  assert code == 0 and field(out, "dtype") == "float64"
  with jax.enable_x64(True):
    w = initializers.get("normal")(jax.random.key(0), (50, 40), jnp.float64)
    assert row(out, "std")[0] == f"{float(jnp.std(w)):.6g}"
  assert not jax.config.jax_enable_x64  # switched on for the draw only
  code, out, _ = run(capsys, "sample", "normal", "--shape", "50,40", "--dtype", "bfloat16")
  assert code == 0 and field(out, "dtype") == "bfloat16"


def test_sample_empty_shape_has_no_statistics(capsys):
  code, out, _ = run(capsys, "sample", "he_normal", "--shape", "0,3")
  assert code == 0 and "no statistics" in out and field(out, "shape") == "(0, 3)"


@pytest.mark.parametrize("suffix,magic", [("png", PNG_MAGIC), ("pdf", b"%PDF")])
def test_sample_plot_writes_the_figure(capsys, tmp_path, suffix, magic):
  path = tmp_path / f"out.{suffix}"  # an existing folder (a missing one is refused: test_faults)
  code, out, err = run(capsys, "sample", "he_normal", "--shape", "100,50", "--plot", str(path))
  assert code == 0 and err == ""
  data = path.read_bytes()
  assert data.startswith(magic) and len(data) > 1000
  assert f"histogram written to {path}" in out


@pytest.mark.parametrize("argv,accepted", [
    (["sample", "no_such_scheme"], ["unknown initializer 'no_such_scheme'", "known: constant",
                                    "he_normal", "kaiming_normal=he_normal"]),
    (["sample", "--shape", "3,x"], ["--shape must be comma-separated non-negative ints, e.g. 784,128",
                                    "'3,x'"]),
    (["sample", "--shape", "-1,4"], ["--shape must be comma-separated non-negative ints", "'-1,4'"]),
    (["sample", "--shape=-1,4"], ["--shape must be comma-separated non-negative ints"]),
    (["sample", "--shape", "3.5,2"], ["--shape must be comma-separated non-negative ints"]),
    (["sample", "--dtype", "int32"], ["dtype int32 is not supported", "accepted: floating dtypes"]),
    (["sample", "--dtype", "nope"], ["--dtype 'nope'", "accepted: float32, float64"]),
    (["sample", "orthogonal", "--shape", "5"], ["orthogonal: shape (5,)", "accepted: a kernel"]),
    (["sample", "normal(stddev=-1)"], ["stddev=-1 is out of range", "accepted: a number >= 0"]),
    (["sample", "he_normal(foo=1)"], ["bad parameters", "accepted: gain, negative_slope, mode"]),
    (["sample", "--seed", "-3"], ["seed -3 is out of range", "accepted: an int in [0, 2^32)"]),
    (["sample", "--seed", str(2 ** 32)], ["is out of range", "accepted: an int in [0, 2^32)"]),
    (["sample", "--plot", "out.jpg"], ["accepted suffixes: .png, .pdf, .svg"]),
    (["sample", "--shape", "0,4", "--plot", "out.png"], ["--plot needs a non-empty draw"]),
    (["sweep", "--schemes", "he_normal,layers(zeros, zeros)"],
     ["'layers(zeros, zeros)' names 2 layers' initializers but the model has 3 layers"]),
    (["diagnose", "--widths", "8,1", "--schemes", "layers(zeros, zeros, zeros)"],
     ["names 3 layers' initializers but the model has 2 layers"]),
])
def test_bad_input_returns_2_with_message(capsys, argv, accepted):
  code, out, err = run(capsys, *argv)
  assert code == 2 and out == ""  # checked before anything is printed
  assert err.startswith("jaxinit: error: ") and "Traceback" not in err
  for text in accepted:
    assert text in err, (text, err)


def test_usage_errors_and_help(capsys):
  assert run(capsys, "sample", "--help")[0] == 0
  code, _, err = run(capsys)
  assert code == 2 and "required" in err
  code, _, err = run(capsys, "sample", "--seed", "x")
  assert code == 2 and "invalid int value" in err


def test_module_entry_point():
  argv = [sys.executable, "-m", "jaxinit.cli", "sample", "normal(stddev=0.5)", "--shape", "100,100"]
  proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
  assert proc.returncode == 0, proc.stderr
  assert field(proc.stdout, "scheme") == "normal(stddev=0.5)"
  assert field(proc.stdout, "shape") == "(100, 100)"
  draw_std, target_std = row(proc.stdout, "std")
  assert target_std == "0.5" and float(draw_std) == pytest.approx(0.5, rel=0.02)
  proc = subprocess.run([sys.executable, "-m", "jaxinit.cli", "sample", "nope"], capture_output=True,
                        text=True, timeout=120, check=False)
  assert proc.returncode == 2 and proc.stdout == ""
  assert proc.stderr.startswith("jaxinit: error: unknown initializer") and "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- theory and diagnose


def test_theory_tanh_critical_point_and_kernel(capsys: pytest.CaptureFixture[str]) -> None:
  code, out, err = run(capsys, "theory", "tanh", "--depths", "1,10")
  assert code == 0, err
  assert "C_b = 0, C_W = 1, K* = 0 (K* = 0 class)" in out
  assert re.search(r"^\s+10\s+0\.05801", out, re.MULTILINE), out  # theory.md: K(10) = 0.058012
  assert field(out, "phase") == "critical (edge of chaos)"


def test_theory_at_a_chosen_point(capsys: pytest.CaptureFixture[str]) -> None:
  code, out, err = run(capsys, "theory", "tanh", "--C-b", "0", "--C-W", "1.5")
  assert code == 0, err
  assert field(out, "K\\*").startswith("0.2868")  # theory.md: K* = 0.28689, chi_perp = 1.0406
  assert field(out, "chi_perp\\(K\\*\\)").startswith("1.040")
  assert field(out, "phase") == "chaotic"


def test_theory_relu_is_scale_invariant(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
  """...and --phase-diagram writes the figure (relu's closed form keeps the 91 x 41 grid fast)."""
  code, out, _ = run(capsys, "theory", "relu", "--K1", "2.5", "--depths", "50",
                     "--phase-diagram", str(tmp_path / "phase.png"))
  assert code == 0
  assert "C_b = 0, C_W = 2, K* = any (K(l) = K(1))" in out
  assert re.search(r"^\s+50\s+2\.5\s", out, re.MULTILINE), out
  assert (tmp_path / "phase.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("argv, match", [
    (["sigmoid"], "sigmoid has no critical point"),
    (["tanh", "--C-b", "0.1"], "give both --C-b and --C-W"),
    (["tanh", "--C-b", "0", "--C-W", "-1"], "C_W=-1.0 is out of range"),
    (["tanhh"], "unknown activation 'tanhh'"),
])
def test_theory_bad_input(argv: list[str], match: str, capsys: pytest.CaptureFixture[str]) -> None:
  code, _, err = run(capsys, "theory", *argv)
  assert code == 2 and match in err, err


def test_diagnose_writes_table_json_and_figures_that_agree(capsys: pytest.CaptureFixture[str],
                                                           tmp_path) -> None:
  from jaxinit.studies import measure

  code, out, err = run(capsys, "diagnose", "--schemes", "zeros,he_normal", "--seeds", "3",
                       "--widths", "8,8,1", "--activation", "tanh", "--examples", "32",
                       "--bins", "8", "--out", str(tmp_path), "--name", "d", "--no-figures")
  # (test_diagnose.py's population and model: the programs compiled there serve here)
  assert code == 0, err
  folder = tmp_path / "d"
  saved = json.loads((folder / "diagnostics.json").read_text())
  records = saved["records"]
  assert {r["quantity"] for r in records} >= {"weight", "preact", "act", "grad_preact"}
  # The printed table is the mean over seeds of the records.
  he = [r["kernel"] for r in records if r["scheme"] == "he_normal" and r["layer"] == 2
        and r["quantity"] == "preact"]
  assert len(he) == 3
  row = re.search(r"^\| he_normal \| 2 \| (\S+) \|", out, re.MULTILINE)
  assert row and float(row.group(1)) == pytest.approx(np.mean(he), rel=1e-3)
  assert re.search(r"^\| zeros \| 1 \| 0 \|", out, re.MULTILINE), out  # zeros: z = 0 exactly
  # The histogram grid has one panel per layer and draws the records' counts.
  member = next(r["member"] for r in records if r["scheme"] == "he_normal")
  from_disk = measure.Diagnostics(records, {q: np.asarray(e) for q, e in saved["edges"].items()},
                                      kernel_MLB=None)
  edges, counts = measure.histograms(from_disk, member, "preact")
  fig = plots.histogram_grid(edges, counts, tmp_path / "check.png")
  table = sorted((r["layer"], r["hist"]) for r in records
                 if r["member"] == member and r["quantity"] == "preact")
  assert len(fig.axes) == len(table) == 3
  for ax, (_, hist) in zip(fig.axes, table, strict=True):
    np.testing.assert_array_equal([p.get_height() for p in ax.patches], hist)
  # The figures are tests/test_diagnose.py's; --no-figures writes none.
  assert {p.name for p in folder.iterdir()} == {"diagnostics.csv", "diagnostics.json"}
  code, _, err = run(capsys, "diagnose", "--seeds", "1", "--out", str(tmp_path), "--name", "d")
  assert code == 2 and "not empty; pass --overwrite" in err


# ----------------------------------------------------------------------------- exit codes


def test_oversized_draw_is_refused_with_the_estimate(capsys):
  code, out, err = run(capsys, "sample", "he_normal", "--shape", "1000000,100000")
  assert code == 2 and out == ""
  assert re.search(r"a draw of shape \(1000000, 100000\) \(100,000,000,000 entries\) needs about "
                   r"1\.6e\+03 GB .*; [\d.e+]+ GB is available; choose a smaller --shape", err), err


def test_missing_data_is_bad_input(capsys, tmp_path):
  code, _, err = run(capsys, "sweep", "--data", "mnist", "--data-dir", str(tmp_path / "nowhere"),
                     "--out", str(tmp_path), "--quiet")
  assert code == 2 and err.count("\n") <= 2 and "nowhere" in err and "Traceback" not in err


def test_an_internal_error_exits_1_with_its_traceback(capsys, monkeypatch):
  from jaxinit.studies import describe

  def broken(*args, **kwargs):
    raise RuntimeError("a bug")
  monkeypatch.setattr(describe, "describe", broken)
  code, _, err = run(capsys, "sample")
  assert code == 1 and "Traceback" in err and "internal error: RuntimeError: a bug" in err


def test_a_closed_pipe_is_quiet():
  proc = subprocess.run(f"{sys.executable} -m jaxinit.cli schemes | head -1", shell=True,
                        capture_output=True, text=True, timeout=120, check=False)
  assert proc.stdout.startswith("initializers (") and proc.stdout.count("\n") == 1
  assert proc.stderr == "", proc.stderr


def test_help_documents_the_exit_codes(capsys):
  code, out, _ = run(capsys, "--help")
  assert code == 0 and "exit status:" in out and "130/143" in out and "2        bad input" in out


def test_model_flags_reach_the_sweep_config():
  """--model resmlp, --branch-multiplier, --parametrization and --width build the model (no run)."""
  args = cli.flags.parser().parse_args(["sweep", "--model", "resmlp", "--branch-multiplier",
                                   "1/sqrt(depth)", "--parametrization", "mup", "--width", "32"])
  model = cli._sweep_config(args).model
  assert model.kind == "resmlp" and model.widths == (32,) * 5 + (1,) and model.blocks == 2
  assert model.branch_multiplier == "1/sqrt(depth)" and model.parametrization == "mup(base_width=32)"
  args = cli.flags.parser().parse_args(["sweep", "--data", "mnist", "--parametrization",
                                        "ntk(base_width=16)", "--width", "64,128"])
  model = cli._sweep_config(args).model
  assert model.widths == (64, 64, 10) and model.parametrization == "ntk(base_width=16)"
