"""Tests for jaxinit.studies.criticality: the report of ``jaxinit theory`` against jaxinit.theory's own
functions, criticality to the stated tolerance, diverging depth scales, and the input rules."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from jaxinit import theory
from jaxinit.studies import criticality as ts

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def field(text: str, label: str) -> str:
  """The value of a ``label  value`` line of the report."""
  m = re.search(rf"^{re.escape(label)}\s+(.+)$", text, re.MULTILINE)
  assert m, f"no {label!r} line in:\n{text}"
  return m.group(1)


def kernel_row(text: str, layer: int) -> tuple[str, str]:
  """The (K(l), chi_perp) cells of the kernel table's row for ``layer``."""
  m = re.search(rf"^  {layer}\s+(\S+)\s+(\S+)$", text, re.MULTILINE)
  assert m, f"no row for layer {layer} in:\n{text}"
  return m.group(1), m.group(2)


def g6(x: object) -> str:
  return f"{float(x):.6g}"


def test_tanh_at_criticality_reports_theorys_numbers() -> None:
  s = ts.summarize("tanh", depths=(1, 10))
  text = s.text()
  assert text == "\n".join(s.lines()) and not text.endswith("\n")
  crit = theory.critical_point("tanh")
  assert s.critical == crit and s.at_critical and (s.C_b, s.C_W) == (crit.C_b, crit.C_W)
  assert s.lines()[:2] == [
      "activation      tanh",
      f"critical point  C_b = {crit.C_b:.6g}, C_W = {crit.C_W:.6g}, K* = {crit.K_star:.6g} "
      "(K* = 0 class)"]
  assert field(text, "at") == f"C_b = {crit.C_b:.6g}, C_W = {crit.C_W:.6g}"
  assert field(text, "K*") == g6(crit.K_star)
  assert field(text, "chi_par(K*)") == g6(theory.chi_parallel("tanh", crit.C_W, crit.K_star))
  assert field(text, "chi_perp(K*)") == g6(theory.chi_perp("tanh", crit.C_W, crit.K_star))
  assert field(text, "phase") == "critical (edge of chaos)"
  assert field(text, "xi_q") == field(text, "xi_c") == "inf"  # chi = 1: both scales diverge
  assert "kernel K(l) from K(1) = 1, and chi_perp(K(l)):" in text
  Ks = theory.kernel_recursion("tanh", crit.C_b, crit.C_W, 1.0, 10)
  for layer in (1, 10):
    K = Ks[layer - 1]
    assert kernel_row(text, layer) == (g6(K), g6(theory.chi_perp("tanh", crit.C_W, K)))
  np.testing.assert_allclose(s.K_D, (1.0, 0.058012), atol=1e-5)  # theory.md's K(10), an outside check


def test_relu_is_scale_invariant() -> None:
  s = ts.summarize("relu", K1=2.5, depths=(1, 50))
  text = s.text()
  assert "critical point  C_b = 0, C_W = 2, K* = any (K(l) = K(1)) (scale-invariant class)" in text
  assert s.critical.kind == "scale_invariant" and s.at_critical
  assert field(text, "K*") == "2.5"  # every kernel is a fixed point: K* = K(1)
  assert field(text, "chi_perp(K*)") == "1" and field(text, "phase") == "critical (edge of chaos)"
  assert kernel_row(text, 50) == ("2.5", "1")
  assert "kernel K(l) from K(1) = 2.5," in text


def test_diverging_depth_scales_are_inf_and_finite_ones_are_theorys() -> None:
  # chi = C_W / 2 = 1 + 1e-7 in float32 (1 + 1 ulp): -1 / log chi would print -8.38861e+06.
  near = ts.summarize("relu", C_W=2.0 + 2e-7, depths=(1,))
  assert near.at_critical and near.chi_perp > 1
  assert near.xi_q == near.xi_c == math.inf
  assert field(near.text(), "xi_q") == field(near.text(), "xi_c") == "inf"
  assert "-inf" not in ts.summarize("tanh", depths=(1,)).text()
  chaotic = ts.summarize("tanh", C_b=0.0, C_W=1.5, depths=(1,))
  xi_q, xi_c = (float(x) for x in theory.depth_scales("tanh", 0.0, 1.5, chaotic.K_star))
  assert (chaotic.xi_q, chaotic.xi_c) == (xi_q, xi_c)
  assert min(chaotic.xi_c, chaotic.xi_q) > 0  # chaotic: xi_c from the slope at c* < 1
  assert field(chaotic.text(), "phase") == "chaotic"
  assert field(chaotic.text(), "K*").startswith("0.2868")  # theory.md: K* = 0.28689


def test_a_given_critical_point_is_critical() -> None:
  # The fixed-point iteration reaches only K ~ 1/(2 * 2000) at tanh's critical point (chi_perp =
  # 0.9995, which would read "ordered"); a point equal to the critical one is that point.
  given = ts.summarize("tanh", C_b=0.0, C_W=1.0)
  assert given.at_critical and given.K_star == 0.0
  assert field(given.text(), "phase") == "critical (edge of chaos)"
  assert given.text() == ts.summarize("tanh").text()
  within = ts.summarize("tanh", C_b=0.0, C_W=1.0 + 0.5 * ts.RTOL, depths=(1,))
  assert within.at_critical and within.phase == "critical (edge of chaos)"
  off = ts.summarize("tanh", C_b=0.0, C_W=0.9, depths=(1,))
  assert not off.at_critical and off.phase == "ordered"


def test_C_W_alone_takes_C_b_zero() -> None:
  alone = ts.summarize("tanh", C_W=1.5, depths=(1, 5))
  assert alone.C_b == 0.0 and alone.text() == ts.summarize("tanh", C_b=0, C_W=1.5, depths=(1, 5)).text()
  # An activation without a critical point can still be studied at a point.
  sigmoid = ts.summarize("sigmoid", C_W=1.0, depths=(1,))
  assert sigmoid.critical is None and not sigmoid.at_critical
  assert field(sigmoid.text(), "critical point").startswith("none: sigmoid has no critical point")
  assert field(sigmoid.text(), "phase") == "ordered"


@pytest.mark.parametrize("kwargs, match", [
    (dict(activation="tanh", C_b=0.1), "C_b=0.1 needs C_W: give both --C-b and --C-W"),
    (dict(activation="tanh", C_b=0.0, C_W=-1.0), "C_W=-1.0 is out of range; accepted: a number > 0"),
    (dict(activation="tanh", C_b=-0.5, C_W=1.0), "C_b=-0.5 is out of range; accepted: a number >= 0"),
    (dict(activation="tanh", K1=0.0), "K1=0.0 is out of range; accepted: a number > 0"),
    (dict(activation="tanh", C_W=math.inf), "C_W=inf is out of range"),
    (dict(activation="tanh", depths=()), "depths must be a non-empty sequence of layers"),
    (dict(activation="tanh", depths=(0, 3)), "ints >= 1"),
    (dict(activation="tanh", depths="1,2"), "depths must be"),
    (dict(activation="tanhh"), "unknown activation 'tanhh'"),
    (dict(activation="sigmoid"), "sigmoid has no critical point"),
])
def test_bad_input_says_what_is_accepted(kwargs: dict, match: str) -> None:
  with pytest.raises(ValueError, match=re.escape(match)):
    ts.summarize(**kwargs)


def test_phase_diagram_around_the_point(tmp_path) -> None:
  s = ts.summarize("relu", C_W=2.0, depths=(1,))
  path = ts.phase_diagram(s, tmp_path / "phase.png")
  assert path == tmp_path / "phase.png" and path.read_bytes()[:8] == PNG_MAGIC
  with pytest.raises(ValueError, match="accepted suffixes"):
    ts.phase_diagram(s, tmp_path / "phase.txt")
  with pytest.raises(ValueError, match="carries its point"):
    ts.phase_diagram(s, tmp_path / "p.png", C_W=1.0)
  with pytest.raises(ValueError, match="needs C_W"):
    ts.phase_diagram("relu", tmp_path / "p.png")
  assert not (tmp_path / "p.png").exists()
  assert np.isfinite(s.chi_perp)


@pytest.mark.parametrize("name", ["tanh", "selu", "elu(0.5)", "gelu", "leaky_relu(0.2)", "erf"])
def test_critical_is_printed_only_where_chi_perp_is_one(name: str) -> None:
  s = ts.summarize(name, depths=(1,))
  assert abs(s.chi_perp - 1) <= ts.RTOL and s.phase == ts.CRITICAL and s.xi_c == math.inf
  assert field(s.text(), "chi_perp(K*)") == "1"


@pytest.mark.parametrize(("name", "C_W", "chi", "phase"), [
    ("selu", 0.35, 0.35 * 1.0507009873554805 ** 2 * (1 + 1.6732632423543772 ** 2) / 2, "ordered"),
    ("elu(0.5)", 1.5, 1.5 * (1 + 0.25) / 2, "ordered"),  # K* = 0: both slopes of the kink averaged
])
def test_a_kinked_activation_at_K_star_zero(name: str, C_W: float, chi: float, phase: str) -> None:
  s = ts.summarize(name, C_W=C_W, depths=(1,))
  assert s.K_star == 0 and s.chi_perp == pytest.approx(chi, rel=1e-6) and s.phase == phase
  assert s.xi_c == pytest.approx(-1 / math.log(chi), rel=1e-5)


def test_a_small_bias_is_not_the_critical_point() -> None:
  """C_b = 1e-6 moves K* off 0: tanh's correlation depth is large but finite (about 708)."""
  s = ts.summarize("tanh", C_b=1e-6, C_W=1.0, depths=(1,))
  assert not s.at_critical and 0 < s.K_star < 1e-2 and 500 < s.xi_c < 1000


def test_scale_invariant_K_star_is_K1_exactly() -> None:
  s = ts.summarize("leaky_relu(0.2)", K1=0.37, depths=(1,))
  assert s.K_star == 0.37 and field(s.text(), "K*") == "0.37"
