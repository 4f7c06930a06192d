"""Tests of jaxinit.results.plots: the data a figure draws, the file it writes, and the style."""

from __future__ import annotations

import math
import re
import warnings

import jax
import matplotlib as mpl
import numpy as np
import pytest

from jaxinit import initializers
from jaxinit.results import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def draw(name: str, shape: tuple[int, ...]) -> tuple[np.ndarray, initializers.Target]:
  init = initializers.get(name)
  return np.asarray(init(jax.random.key(0), shape), np.float64), init.target(shape)


def bars(fig: mpl.figure.Figure) -> tuple[np.ndarray, np.ndarray]:
  """Heights and left edges (plus the last right edge) of the histogram bars."""
  patches = fig.axes[0].patches
  heights = np.array([p.get_height() for p in patches])
  edges = np.array([p.get_x() for p in patches] + [patches[-1].get_x() + patches[-1].get_width()])
  return heights, edges


@pytest.mark.parametrize("name", ["he_normal", "he_uniform", "he_truncated_normal"])
def test_histogram_is_the_density_and_curve_is_the_target_pdf(tmp_path, name):
  values, target = draw(name, (256, 128))
  fig = plots.sample_histogram(values, target, name, tmp_path / "h.png")
  heights, edges = bars(fig)
  expected, expected_edges = np.histogram(values, bins=100, density=True)
  assert len(fig.axes[0].patches) == plots.BINS == 100
  np.testing.assert_allclose(heights, expected, rtol=1e-12)
  np.testing.assert_allclose(edges, expected_edges, rtol=1e-12, atol=1e-15)
  assert np.sum(heights * np.diff(edges)) == pytest.approx(1.0, abs=1e-9)
  (line,) = fig.axes[0].lines
  x, y = line.get_xydata().T
  assert x[0] == pytest.approx(edges[0]) and x[-1] == pytest.approx(edges[-1])
  np.testing.assert_allclose(y, target.pdf(x), rtol=1e-12)
  assert line.get_label() == "target density"
  # the curve is the right density, not just any: it integrates to ~1 over the sample's range
  assert np.trapezoid(y, x) == pytest.approx(1.0, abs=0.02)


def test_orthogonal_curve_is_the_normal_approximation(tmp_path):
  values, target = draw("orthogonal", (128, 64))
  fig = plots.sample_histogram(values, target, "orthogonal", tmp_path / "o.png")
  (line,) = fig.axes[0].lines
  assert line.get_label() == "normal approximation"
  x, y = line.get_xydata().T
  std = math.sqrt(1 / 128)
  np.testing.assert_allclose(y, np.exp(-0.5 * (x / std) ** 2) / (std * math.sqrt(2 * math.pi)),
                             rtol=1e-12)


@pytest.mark.parametrize("name,shape", [("identity", (16, 16)), ("delta_orthogonal", (3, 3, 4, 8)),
                                        ("constant(0.5)", (10, 10)), ("normal(stddev=0.0)", (10, 10))])
def test_no_curve_without_a_density(tmp_path, name, shape):
  values, target = draw(name, shape)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    fig = plots.sample_histogram(values, target, name, tmp_path / "n.png")
  assert len(fig.axes[0].lines) == 0
  assert len(fig.axes[0].patches) == 100
  heights, edges = bars(fig)
  assert np.sum(heights * np.diff(edges)) == pytest.approx(1.0, abs=1e-9)


def test_no_target_draws_bars_only(tmp_path):
  values, _ = draw("he_normal", (64, 64))
  fig = plots.sample_histogram(values, None, "he_normal", tmp_path / "b.png")
  assert len(fig.axes[0].lines) == 0 and len(fig.axes[0].patches) == 100


def test_accepts_a_jax_array_of_any_shape(tmp_path):
  init = initializers.get("lecun_normal")
  # drawn as (72, 16), fan_in 72 as for (3, 3, 8, 16): XLA on CPU compiles a rank-4 draw in ~5 s
  w = init(jax.random.key(3), (3 * 3 * 8, 16)).reshape(3, 3, 8, 16)
  fig = plots.sample_histogram(w, init.target(w.shape), init.name, tmp_path / "j.png")
  expected, _ = np.histogram(np.asarray(w, np.float64).ravel(), bins=100, density=True)
  np.testing.assert_allclose(bars(fig)[0], expected, rtol=1e-12)


@pytest.mark.parametrize("suffix,magic", [(".png", PNG_MAGIC), (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_saves_by_suffix_into_new_folders(tmp_path, suffix, magic):
  values, target = draw("he_normal", (64, 64))
  path = tmp_path / "a" / "b" / f"fig{suffix}"
  plots.sample_histogram(values, target, "he_normal", str(path))
  data = path.read_bytes()
  assert data.startswith(magic) and len(data) > 1000


def test_png_is_150_dpi(tmp_path):
  values, target = draw("he_normal", (64, 64))
  fig = plots.sample_histogram(values, target, "he_normal", tmp_path / "d.png")
  height, width = mpl.image.imread(tmp_path / "d.png").shape[:2]
  w_in, h_in = fig.get_size_inches()
  # bbox "tight" trims or pads a little; at 100 dpi the width would be ~500 px
  assert width == pytest.approx(w_in * 150, rel=0.1) and height == pytest.approx(h_in * 150, rel=0.1)


def test_style_is_local_and_publication_ready(tmp_path):
  backend = mpl.get_backend()
  before = mpl.rcParams.copy()
  values, target = draw("he_normal", (64, 64))
  fig = plots.sample_histogram(values, target, "my title", tmp_path / "s.png")
  ax = fig.axes[0]
  assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()
  assert ax.spines["left"].get_visible() and ax.spines["bottom"].get_visible()
  assert ax.get_title() == "my title" and ax.get_ylabel() == "density"
  assert ax.xaxis.label.get_fontsize() >= 10 and ax.title.get_fontsize() >= 11
  assert mpl.rcParams == before and mpl.get_backend() == backend


@pytest.mark.parametrize("values,path,message", [
    (np.zeros(0), "e.png", "a non-empty array of finite values"),
    (np.array([0.0, np.nan]), "e.png", "a non-empty array of finite values"),
    (np.zeros(10), "e.jpg", "accepted suffixes: .png, .pdf, .svg"),
])
def test_bad_input_raises_value_error(tmp_path, values, path, message):
  with pytest.raises(ValueError, match=re.escape(message)):
    plots.sample_histogram(values, None, "t", tmp_path / path)
  assert not (tmp_path / path).exists()


def loss_records() -> list[dict]:
  """Two schemes over 5 epochs: member 2 diverges at epoch 3, member 4 at epoch 4 (leaving b one);
  member 1's outlier at epoch 2 puts a's mean - std below zero."""
  rng = np.random.default_rng(0)
  rows = []
  for epoch in range(1, 6):
    for member, scheme in enumerate(["a", "a", "a", "b", "b"]):
      loss = 10.0 if (member, epoch) == (1, 2) else float(rng.lognormal(-epoch / 3, 1.0))
      dead = (member == 2 and epoch >= 3) or (member == 4 and epoch >= 4)
      rows.append(dict(member=member, epoch=epoch, scheme=scheme, train_loss=math.nan if dead else loss,
                       test_loss=math.nan if dead else 2 * loss, diverged=dead))
  return rows


@pytest.mark.parametrize("metric", ["train_loss", "test_loss"])
def test_loss_curves_line_is_the_mean_and_band_is_mean_plus_minus_std_as_the_legend_says(
    tmp_path, metric):
  rows = loss_records()
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    fig = plots.loss_curves(rows, tmp_path / "loss.png", title="moons")
  title = fig.axes[0].get_legend().get_title().get_text()
  assert title == plots.LOSS_BAND and title.startswith("mean ± std over members")
  assert fig.get_suptitle() == "moons"
  ax = fig.axes[("train_loss", "test_loss").index(metric)]
  assert ax.get_yscale() == "log" and ax.get_ylabel() == metric.replace("_", " ")
  assert [line.get_label() for line in ax.lines] == ["a", "b"] and len(ax.collections) == 2
  crosses_zero = False
  for line, band, scheme in zip(ax.lines, ax.collections, ("a", "b"), strict=True):
    values = [[r[metric] for r in rows if r["scheme"] == scheme and r["epoch"] == e
               and math.isfinite(r[metric])] for e in range(1, 6)]
    mean = np.array([np.mean(v) for v in values])
    std = np.array([np.std(v, ddof=1) if len(v) > 1 else np.nan for v in values])
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 6))
    np.testing.assert_allclose(line.get_ydata(), mean, rtol=1e-12)
    vertices = np.concatenate([path.vertices for path in band.get_paths()])
    drawn = sorted({int(x) for x in vertices[:, 0]})
    assert drawn == [e for e in range(1, 6) if len(values[e - 1]) > 1]  # no band where n < 2
    for e in drawn:
      ys = vertices[vertices[:, 0] == e, 1]
      assert ys.min() == pytest.approx(mean[e - 1] - std[e - 1], rel=1e-12, abs=1e-15)
      assert ys.max() == pytest.approx(mean[e - 1] + std[e - 1], rel=1e-12)
      crosses_zero |= ys.min() < 0
  assert crosses_zero  # drawn as computed (it runs off the log axis), not clipped in the data


def test_loss_curves_state_the_statistic_without_a_title_and_reject_no_rows(tmp_path):
  fig = plots.loss_curves(loss_records(), tmp_path / "loss.svg", metrics=("train_loss",))
  assert fig.get_suptitle() == "" and len(fig.axes) == 1
  assert fig.axes[0].get_legend().get_title().get_text() == plots.LOSS_BAND
  with pytest.raises(ValueError, match="at least one record"):
    plots.loss_curves([], tmp_path / "none.png")


# ------------------------------------------------------------------- theory and diagnostics figures


def test_histogram_grid_draws_one_panel_per_layer_with_the_given_counts(tmp_path) -> None:
  rng = np.random.default_rng(0)
  edges = np.linspace(-3, 3, 31)
  counts = np.stack([np.histogram(rng.normal(size=500) * s, edges)[0] for s in (1, .7, .5, .3, .1,
                                                                                  .05, .02)])
  fig = plots.histogram_grid(edges, counts, tmp_path / "grid.png", title="preact")
  assert len(fig.axes) == 7
  for layer, ax in enumerate(fig.axes):
    np.testing.assert_array_equal([p.get_height() for p in ax.patches], counts[layer])
    np.testing.assert_allclose([p.get_x() for p in ax.patches], edges[:-1])
    assert ax.get_title() == f"layer {layer + 1}"
  assert (tmp_path / "grid.png").read_bytes()[:8] == PNG_MAGIC
  with pytest.raises(ValueError, match="do not fit"):
    plots.histogram_grid(edges, counts[:, :-1], tmp_path / "bad.png")
  per_layer = np.stack([edges * (i + 1) for i in range(7)])  # each layer its own range
  fig = plots.histogram_grid(per_layer, counts, tmp_path / "grid.png")
  for layer, ax in enumerate(fig.axes):
    np.testing.assert_allclose([p.get_x() for p in ax.patches], per_layer[layer, :-1])


def test_depth_profile_draws_the_mean_band_and_theory(tmp_path) -> None:
  samples = 1 + np.random.default_rng(1).normal(size=(6, 12)) * 0.1
  theory = np.linspace(1, 2, 12)
  fig = plots.depth_profile(theory, samples, tmp_path / "depth.pdf", "K(l)", log=True)
  ax = fig.axes[0]
  np.testing.assert_allclose(ax.lines[0].get_ydata(), samples.mean(0))
  np.testing.assert_allclose(ax.lines[1].get_ydata(), theory)
  np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(1, 13))
  assert ax.get_yscale() == "log" and (tmp_path / "depth.pdf").stat().st_size > 0


def test_phase_diagram_draws_log_chi_and_the_edge_of_chaos(tmp_path) -> None:
  C_W, C_b = np.linspace(0.5, 3, 26), np.linspace(0, 0.5, 11)
  chi = np.outer(1 / (1 + C_b), C_W)  # chi = 1 on the line C_W = 1 + C_b
  fig = plots.phase_diagram(C_W, C_b, chi, tmp_path / "phase.png", "toy")
  ax = fig.axes[0]
  np.testing.assert_allclose(np.asarray(ax.collections[0].get_array()).reshape(11, 26),
                             np.log(chi))
  edge = ax.collections[1].get_paths()[0].vertices  # the chi = 1 contour
  np.testing.assert_allclose(edge[:, 0], 1 + edge[:, 1], atol=0.02)


def test_jacobian_spectrum_draws_each_set(tmp_path) -> None:
  rng = np.random.default_rng(2)
  fig = plots.jacobian_spectrum({"gaussian": rng.exponential(size=400), "orthogonal": np.ones(64)},
                                tmp_path / "spec.png")
  labels = [t.get_text() for t in fig.legends[0].get_texts()]
  assert labels[1] == "orthogonal (mean 1, var 0)" and labels[0].startswith("gaussian (mean ")
  assert fig.axes[0].get_legend() is None  # the legend is below the axes, not on the data
  # Fractions per bin: the orthogonal spectrum (all 1) is one bar of height 1, not a 1e17 spike.
  ax = fig.axes[0]
  assert len(ax.patches) == 2 and ax.get_ylim()[1] < 1.2
  heights = [np.diff(p.get_xy()[:, 1]) for p in ax.patches]
  assert max(np.max(np.abs(h)) for h in heights) == pytest.approx(1.0)
  with pytest.raises(ValueError, match="no positive eigenvalues"):
    plots.jacobian_spectrum({"zero": np.zeros(3)}, tmp_path / "x.png")
