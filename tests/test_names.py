"""Tests for jaxinit.names: the scheme-string grammar."""

import pytest

from jaxinit import names


@pytest.mark.parametrize(("text", "parsed"), [
    ("he_normal", ("he_normal", (), {})),
    ("HE_Normal", ("he_normal", (), {})),
    ("constant(-0.5)", ("constant", (-0.5,), {})),
    ("normal(stddev=1e-2)", ("normal", (), {"stddev": 0.01})),
    ("variance_scaling(scale=2, mode=fan_in, distribution='uniform')",
     ("variance_scaling", (), {"scale": 2, "mode": "fan_in", "distribution": "uniform"})),
    ("x(batch_axis=(0, 1))", ("x", (), {"batch_axis": (0, 1)})),
    ("lsuv(base=orthogonal(gain=2.0), tol=0.1)",
     ("lsuv", (), {"base": "orthogonal(gain=2.0)", "tol": 0.1})),
])
def test_parse(text, parsed):
  assert names.parse(text) == parsed


@pytest.mark.parametrize("text", ["normal(", "1+2", "a.b(c=1)", "f(**k)", "f(x=[1])", "f(x=-y)"])
def test_parse_rejects(text):
  with pytest.raises(ValueError, match="accepted"):
    names.parse(text)


def test_parse_rejects_non_strings():
  with pytest.raises(TypeError, match="must be a string"):
    names.parse(3)


def test_format_round_trips():
  text = names.format_call("f", (0.005,), {"a": 10, "b": 1e-5, "c": "fan_in", "d": (0,), "e": -2})
  assert text == "f(0.005, a=10, b=1e-05, c=fan_in, d=(0,), e=-2)"
  base, args, kwargs = names.parse(text)
  assert names.format_call(base, args, kwargs) == text


def test_format_rejects_non_finite():
  with pytest.raises(ValueError, match="finite"):
    names.format_value(float("inf"))
