"""Tests of the ``jaxinit`` command line: ``schemes`` and ``sample``, output and exit codes."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from jaxinit import activations, cli, initializers

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
  path = tmp_path / "figs" / f"out.{suffix}"
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
    (["sample", "--seed", "-3"], ["--seed -3 is out of range", "accepted: an int in [0, 2^32)"]),
    (["sample", "--seed", str(2 ** 32)], ["is out of range", "accepted: an int in [0, 2^32)"]),
    (["sample", "--plot", "out.jpg"], ["accepted suffixes: .png, .pdf, .svg"]),
    (["sample", "--shape", "0,4", "--plot", "out.png"], ["--plot needs a non-empty draw"]),
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
