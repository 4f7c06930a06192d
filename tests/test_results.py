"""Tests of jaxinit.results and the modules behind it: records, provenance, stats and tables."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import importlib.metadata
import io
import json
import math
import os
import re

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from jaxinit import results
from jaxinit.engine import population, train
from jaxinit.results import folders, provenance, records, stats, tables

NAN = float("nan")
os_fsync = os.fsync


def record(member: int, epoch: int, scheme: str = "he_normal", loss: float = 0.5, acc: float = 0.9,
           diverged: bool = False, **kw: object) -> dict:
  row = dict(member=member, scheme=scheme, seed=member, lr=0.1, momentum=0.9, scale=1.0, epoch=epoch,
             train_loss=loss, train_acc=acc, test_loss=loss + 0.1, test_acc=acc - 0.05,
             diverged=diverged, diverged_epoch=None)
  if diverged:
    row.update(train_loss=NAN, train_acc=NAN, test_loss=NAN, test_acc=NAN, diverged_epoch=epoch)
  row.update(kw)
  return row


def same(a: dict, b: dict) -> bool:
  """Equal records, NaN equal to NaN."""
  nan = lambda v: isinstance(v, float) and math.isnan(v)
  return a.keys() == b.keys() and all(a[k] == b[k] or (nan(a[k]) and nan(b[k])) for k in a)


# ----------------------------------------------------------------------------- records file


def test_results_re_exports_the_modules_names():
  exported = {module: module.__all__ for module in (records, provenance, stats, tables)}
  exported[folders] = ["RunFolder", "atomic_write", "write_json"]
  for module, names in exported.items():
    for name in names:
      assert getattr(results, name) is getattr(module, name), name
  assert set(results.__all__) == {n for names in exported.values() for n in names}


def test_record_fields_are_the_documented_keys_in_order_derived_from_member_and_metrics():
  assert results.RECORD_FIELDS == (
      "member", "scheme", "seed", "lr", "momentum", "scale", "epoch", "train_loss", "train_acc",
      "test_loss", "test_acc", "diverged", "diverged_epoch")
  assert results.METRICS is train.METRICS  # one tuple, not a copy
  member_fields = tuple(f.name for f in dataclasses.fields(population.Member))
  assert results.RECORD_FIELDS[1:1 + len(member_fields)] == member_fields
  assert set(record(0, 1)) == set(results.RECORD_FIELDS)


def test_epoch_records_are_exactly_the_record_fields_and_round_trip(tmp_path):
  members = population.grid(["zeros", "he_normal"], [0, 7], lrs=[0.1], momenta=[0.9], scales=[2.0])
  metrics = np.array([[0.5, 0.75, 0.625, 0.5], [NAN, NAN, NAN, NAN], [0.25, 1.0, 0.375, 0.875],
                      [0.125, 0.5, 0.25, 0.5]], np.float32)
  diverged = np.array([0, 2, 0, 0], np.int32)
  rows = results.epoch_records(members, 3, metrics, diverged)
  assert [tuple(r) for r in rows] == [results.RECORD_FIELDS] * 4
  assert [(r["member"], r["scheme"], r["seed"], r["scale"]) for r in rows] == [
      (k, m.scheme, m.seed, 2.0) for k, m in enumerate(members)]
  assert rows[0]["train_acc"] == 0.75 and type(rows[0]["train_acc"]) is float
  assert (rows[1]["diverged"], rows[1]["diverged_epoch"]) == (True, 2)
  assert math.isnan(rows[1]["test_acc"])
  assert (rows[2]["diverged"], rows[2]["diverged_epoch"]) == (False, None)
  assert all(r["epoch"] == 3 for r in rows)
  path = tmp_path / "r.jsonl"
  with results.RecordWriter(path) as w:
    assert w.write(rows) == 4
  back = results.read_records(path)
  assert all(same(a, b) for a, b in zip(back, rows, strict=True))
  assert list(back[0]) == list(results.RECORD_FIELDS)
  with pytest.raises(ValueError):  # one metric short
    results.epoch_records(members, 3, metrics[:, :3], diverged)


def test_records_round_trip_with_nan_none_numpy_scalars_and_appending(tmp_path, monkeypatch):
  path = tmp_path / "runs" / "records.jsonl"
  epoch1 = [record(0, 1, loss=0.1 + 0.2), record(1, 1, diverged=True)]
  epoch2 = [record(np.int64(0), np.int32(2), loss=np.float64(1 / 3), lr=np.float32(0.25)),
            record(1, 2, diverged=True, diverged_epoch=1)]
  synced = []
  monkeypatch.setattr(records.os, "fsync", lambda fd: synced.append(fd) or os_fsync(fd))
  with results.RecordWriter(path) as w:
    assert w.write(epoch1) == 2
    assert len(synced) == 1 and path.read_text().count("\n") == 2  # on disk before close
  with results.RecordWriter(path) as w:  # reopening appends
    w.write(iter(epoch2))
  lines = path.read_text().splitlines()
  assert len(lines) == 4 and "NaN" not in path.read_text()
  assert json.loads(lines[1])["train_loss"] is None and list(json.loads(lines[0])) == list(
      results.RECORD_FIELDS)
  back = results.read_records(path)
  expected = [*epoch1, *epoch2]
  expected[2] = {**expected[2], "train_loss": 1 / 3, "lr": 0.25, "member": 0, "seed": 0, "epoch": 2}
  assert all(same(a, b) for a, b in zip(back, expected, strict=True))
  assert back[0]["train_loss"] == 0.30000000000000004  # repr precision, not rounded
  assert back[0]["diverged_epoch"] is None and back[3]["diverged_epoch"] == 1
  assert math.isnan(back[1]["test_acc"]) and back[1]["diverged"] is True
  assert type(back[2]["member"]) is type(back[2]["epoch"]) is int


def test_write_rejects_a_row_with_wrong_keys_and_writes_nothing_of_the_batch(tmp_path):
  path = tmp_path / "r.jsonl"
  bad = record(1, 1)
  del bad["seed"]
  with results.RecordWriter(path) as w, pytest.raises(ValueError, match=r"lacks keys \['seed'\]"):
    w.write([record(0, 1), bad])
  assert path.read_text() == ""


def test_partial_last_line_is_ignored_and_dropped_when_reopened(tmp_path):
  path = tmp_path / "r.jsonl"
  with results.RecordWriter(path) as w:
    w.write([record(0, 1), record(1, 1)])
  full = path.read_text()
  path.write_text(full + full.splitlines()[0][:37])  # killed mid-write
  assert [r["member"] for r in results.read_records(path)] == [0, 1]
  path.write_text(full + full.splitlines()[0])  # a whole object, but no newline yet: not counted
  assert len(results.read_records(path)) == 2
  with results.RecordWriter(path) as w:
    w.write([record(0, 2)])
  assert [(r["member"], r["epoch"]) for r in results.read_records(path)] == [(0, 1), (1, 1), (0, 2)]


def test_malformed_middle_line_raises_naming_file_and_line(tmp_path):
  path = tmp_path / "r.jsonl"
  good = json.dumps(folders.jsonable(record(0, 1)))
  path.write_text(f"{good}\n{good[:20]}\n{good}\n")
  with pytest.raises(ValueError, match=r"r\.jsonl, line 2: "):
    results.read_records(path)
  path.write_text(f"{good}\n{good}\n[1, 2]\n{good}\n")  # valid JSON, not an object
  with pytest.raises(ValueError, match="line 3"):
    results.read_records(path)


def test_truncate_keeps_exactly_the_epochs_up_to_k_atomically(tmp_path):
  path = tmp_path / "r.jsonl"
  with results.RecordWriter(path) as w:
    for epoch in range(1, 6):
      w.write([record(m, epoch, loss=epoch + m / 10) for m in range(3)])
  path.write_text(path.read_text() + '{"member": 0, "ep')
  assert results.truncate_records(path, 3) == 9
  back = results.read_records(path)
  assert [(r["epoch"], r["member"]) for r in back] == [(e, m) for e in (1, 2, 3) for m in range(3)]
  assert back[-1]["train_loss"] == 3.2
  assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]  # no temporary file left
  with results.RecordWriter(path) as w:  # resume appends after the kept epochs
    w.write([record(0, 4)])
  assert [r["epoch"] for r in results.read_records(path)][-2:] == [3, 4]
  assert results.truncate_records(path, 0) == 0 and path.read_text() == ""


def test_write_json_numpy_values_nan_sorted_and_atomic(tmp_path):
  path = tmp_path / "sub" / "config.json"
  obj = {"b": np.float32(0.5), "a": np.int64(7), "c": [np.float64(NAN), math.inf, 1.5],
         "d": np.arange(3), "e": (np.bool_(True), None), "f": {"z": 1, "y": 2},
         "g": jnp.float32(0.25), "h": jnp.arange(2)}
  assert results.write_json(path, obj) == path
  text = path.read_text()
  assert json.loads(text) == {"a": 7, "b": 0.5, "c": [None, None, 1.5], "d": [0, 1, 2],
                              "e": [True, None], "f": {"y": 2, "z": 1},
                              "g": 0.25, "h": [0, 1]}
  assert text.index('"a"') < text.index('"b"') and '\n  "a": 7,' in text
  results.write_json(path, {"x": 1})
  assert json.loads(path.read_text()) == {"x": 1}
  assert [p.name for p in path.parent.iterdir()] == ["config.json"]


def test_environment_has_versions_git_commit_devices_and_utc_time():
  env = results.environment()
  keys = {"python", "jax", "jaxlib", "flax", "optax", "numpy", "jaxinit", "git_commit", "git_dirty",
          "backend", "device_kinds", "device_count", "process_count", "hostname", "timestamp"}
  assert keys <= set(env)
  assert env["numpy"] == np.__version__ and env["jax"] == importlib.metadata.version("jax")
  assert re.fullmatch(r"[0-9a-f]{40}", env["git_commit"]), env["git_commit"]
  assert isinstance(env["git_dirty"], bool)
  assert env["device_count"] == len(env["device_kinds"]) >= 1 and env["process_count"] >= 1
  assert isinstance(env["backend"], str) and env["backend"]
  stamp = datetime.datetime.fromisoformat(env["timestamp"])
  assert stamp.utcoffset() == datetime.timedelta(0)
  assert abs((datetime.datetime.now(datetime.UTC) - stamp).total_seconds()) < 60
  json.dumps(env)  # serializable as it is


# ----------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("n", [2, 3, 11, 200])
def test_ci95_factor_gives_the_student_t_interval(n):
  x = np.random.default_rng(n).normal(size=n)
  lo, hi = scipy.stats.t.interval(0.95, n - 1, loc=x.mean(), scale=scipy.stats.sem(x))
  assert results.ci95_factor(n) * x.std(ddof=1) == pytest.approx((hi - lo) / 2, rel=1e-12)
  with pytest.raises(ValueError, match="n >= 2"):
    results.ci95_factor(1)


def _holm_rejections(p: np.ndarray, alpha: float) -> set[int]:
  """Holm's step-down test written from its definition: reject the smallest p-values in order
  while p_(k) <= alpha / (m - k), stop at the first that fails."""
  order, rejected = np.argsort(p), set()
  for k, i in enumerate(order):
    if p[i] > alpha / (len(p) - k):
      break
    rejected.add(int(i))
  return rejected


def test_holm_adjusted_p_values_reject_what_the_step_down_test_rejects():
  rng = np.random.default_rng(0)
  for _ in range(200):
    p = np.concatenate([rng.uniform(size=rng.integers(1, 8)), rng.uniform(0, 0.02, rng.integers(0, 6))])
    adjusted = results.adjust_p(p)
    assert np.all(adjusted >= p) and np.all(adjusted <= 1)
    for alpha in (0.01, 0.05, 0.1):
      assert {int(i) for i in np.flatnonzero(adjusted <= alpha)} == _holm_rejections(p, alpha)


def test_adjust_p_keeps_nan_out_of_the_family_and_checks_its_input():
  p = np.array([0.01, NAN, 0.04, 0.03])
  holm = results.adjust_p(p)
  assert math.isnan(holm[1])
  np.testing.assert_allclose(holm[[0, 2, 3]], results.adjust_p([0.01, 0.04, 0.03]))  # m = 3, not 4
  bh = results.adjust_p(p, "bh")
  np.testing.assert_allclose(bh[[0, 2, 3]], [0.03, 0.04, 0.04])  # min over k >= i of m p_(k) / k
  np.testing.assert_array_equal(results.adjust_p(p, "none"), p)
  with pytest.raises(ValueError, match="accepted: holm, bh, none"):
    results.adjust_p(p, "bonferroni")
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    results.adjust_p([0.5, 1.5])


def small_sweep() -> list[dict]:
  """Two epochs; schemes appear zeta first; member 4 diverges at epoch 2."""
  rows = []
  for epoch in (1, 2):
    rows += [record(0, epoch, "zeta_init", loss=0.40 / epoch, acc=0.91),
             record(1, epoch, "he_normal", loss=0.30 / epoch, acc=0.95),
             record(2, epoch, "zeta_init", loss=0.50 / epoch, acc=0.89),
             record(3, epoch, "he_normal", loss=0.20 / epoch, acc=0.97),
             record(4, epoch, "he_normal", loss=0.25, acc=0.96, diverged=epoch == 2),
             record(5, epoch, "zeta_init", loss=0.45 / epoch, acc=0.93)]
  return rows


def test_summarize_matches_numpy_and_scipy_ci():
  table = results.summarize(small_sweep(), epoch=1)
  assert [row["scheme"] for row in table] == ["zeta_init", "he_normal"]  # first appearance
  zeta, he = table
  for row, losses in ((zeta, [0.40, 0.50, 0.45]), (he, [0.30, 0.20, 0.25])):
    x = np.array(losses)
    n = len(x)
    assert row["n"] == row["n_total"] == n and row["n_diverged"] == 0 and row["epoch"] == 1
    assert row["train_loss_mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert row["train_loss_std"] == pytest.approx(x.std(ddof=1), rel=1e-12)
    ci = scipy.stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)
    assert row["train_loss_ci95"] == pytest.approx(ci, rel=1e-9)
    assert row["test_loss_mean"] == pytest.approx(x.mean() + 0.1, rel=1e-12)
  assert he["test_acc_mean"] == pytest.approx(np.mean([0.95, 0.97, 0.96]) - 0.05, rel=1e-12)
  assert list(he)[:5] == ["scheme", "epoch", "n", "n_diverged", "n_total"]
  assert list(he)[5:8] == ["train_loss_mean", "train_loss_std", "train_loss_ci95"]


def test_summarize_excludes_and_counts_diverged_members_at_the_last_epoch():
  table = results.summarize(small_sweep())  # default: each member's last epoch, 2
  he = table[1]
  assert (he["epoch"], he["n"], he["n_diverged"], he["n_total"]) == (2, 2, 1, 3)
  assert he["train_loss_mean"] == pytest.approx(np.mean([0.15, 0.10]), rel=1e-12)
  assert he["train_acc_std"] == pytest.approx(np.std([0.95, 0.97], ddof=1), rel=1e-12)
  assert table[0]["n_diverged"] == 0 and table[0]["train_loss_mean"] == pytest.approx(0.225)


def test_summarize_default_epoch_is_each_members_last():
  rows = [r for r in small_sweep() if not (r["member"] == 5 and r["epoch"] == 2)]
  zeta = results.summarize(rows, metrics=("train_loss",))[0]
  assert zeta["train_loss_mean"] == pytest.approx(np.mean([0.20, 0.25, 0.45]))
  assert "train_acc_mean" not in zeta and "test_loss_std" not in zeta


def test_summarize_small_groups_give_nan_spread_and_all_diverged_nan_mean():
  rows = [record(0, 1, "a", loss=0.3), record(1, 1, "b", diverged=True),
          record(2, 1, "c", loss=0.2), record(3, 1, "c", diverged=True),
          record(4, 1, "c", loss=9.0, diverged_epoch=1) | {"diverged": True}]  # marked, finite
  a, b, c = results.summarize(rows)
  assert a["n"] == 1 and a["train_loss_mean"] == 0.3
  assert math.isnan(a["train_loss_std"]) and math.isnan(a["train_loss_ci95"])
  assert b["n"] == 0 and b["n_diverged"] == 1 and math.isnan(b["test_acc_mean"])
  assert (c["n"], c["n_diverged"], c["n_total"], c["train_loss_mean"]) == (1, 2, 3, 0.2)


def test_summarize_groups_by_several_keys():
  rows = [record(m, 1, "he_normal", lr=lr, loss=m) for m, lr in enumerate([0.1, 0.01, 0.1, 0.01])]
  table = results.summarize(rows, by=("scheme", "lr"))
  assert [(t["scheme"], t["lr"], t["train_loss_mean"]) for t in table] == [
      ("he_normal", 0.1, 1.0), ("he_normal", 0.01, 2.0)]


def test_summarize_rejects_a_missing_epoch_and_duplicate_records():
  with pytest.raises(ValueError, match=r"no record has epoch 7; accepted: .* 1 to 2"):
    results.summarize(small_sweep(), epoch=7)
  with pytest.raises(ValueError, match="member 0 has two records at epoch 1"):
    results.summarize([record(0, 1), record(0, 1)])
  assert results.summarize([]) == []


# ----------------------------------------------------------------------------- tables

PM = re.compile(r"^(-?\d+\.\d+) ± (\d+\.\d+)$")


def markdown_parts(text: str) -> tuple[list[list[str]], str]:
  """The cells of a Markdown table (header first) and the caption paragraph after it."""
  body, caption = text.split("\n\n")
  lines = body.split("\n")
  assert re.fullmatch(r"\|(:---\|)+(---:\|)+", lines[1]), lines[1]
  assert caption.endswith("\n") and caption.count("\n") == 1 and text.endswith(".\n")
  cells = [[c.strip() for c in line.strip("|").split("|")] for line in [lines[0], *lines[2:]]]
  return cells, caption.strip()


def markdown_rows(text: str) -> list[list[str]]:
  return markdown_parts(text)[0]


def test_markdown_cells_hold_mean_and_ci_with_accuracy_in_percent():
  table = results.summarize(small_sweep())
  header, *body = markdown_rows(results.to_markdown(table, ("train_loss", "test_acc")))
  assert header == ["scheme", "train_loss mean ± 95% CI", "test_acc (%) mean ± 95% CI", "diverged"]
  assert [r[0] for r in body] == ["zeta_init", "he_normal"] and body[1][3] == "1/3"
  for cells, row in zip(body, table, strict=True):
    loss, acc = PM.match(cells[1]), PM.match(cells[2])
    assert len(loss.group(1).split(".")[1]) == 3 and len(acc.group(1).split(".")[1]) == 1
    assert float(loss.group(1)) == pytest.approx(row["train_loss_mean"], abs=5e-4)
    assert float(loss.group(2)) == pytest.approx(row["train_loss_ci95"], abs=5e-4)
    assert float(acc.group(1)) == pytest.approx(100 * row["test_acc_mean"], abs=0.05)
    assert float(acc.group(2)) == pytest.approx(100 * row["test_acc_ci95"], abs=0.05)
  assert body[1][2] == "91.0 ± 12.7"  # 100 * (0.96 -/+ 12.706 * 0.01 / sqrt(2))


def test_markdown_std_spread_digits_default_metrics_and_nan_cells():
  rows = [record(0, 1, "a|b", loss=1.0), record(1, 1, "a|b", loss=2.0),
          record(2, 1, "c", diverged=True)]
  table = results.summarize(rows)
  text = results.to_markdown(table, digits=2, spread="std")
  header, ab, c = markdown_rows(text.replace(r"\|", "¦"))
  assert header[1:] == ["train_loss mean ± std", "train_acc (%) mean ± std", "test_loss mean ± std",
                        "test_acc (%) mean ± std", "diverged"]
  assert ab[:2] == ["a¦b", "1.50 ± 0.71"] and c[1:] == ["n/a"] * 4 + ["1/1"]
  for spread in ("sem", "ci"):
    with pytest.raises(ValueError, match=f"spread='{spread}' is not known; accepted: ci95, std"):
      results.to_markdown(table, spread=spread)
    with pytest.raises(ValueError, match="accepted: ci95, std"):
      results.caption(table, spread)


def test_the_spread_named_in_the_header_is_the_one_in_the_cells():
  rows = [record(m, 1, "s", loss=x) for m, x in enumerate([0.1, 0.4, 0.2, 0.9])]
  (row,) = results.summarize(rows)
  for spread, name in (("ci95", "95% CI"), ("std", "std")):
    header, cells = markdown_rows(results.to_markdown([row], ["train_loss"], spread=spread))
    assert header[1] == f"train_loss mean ± {name}"
    assert PM.match(cells[1]).group(2) == f"{row[f'train_loss_{spread}']:.3f}"
  assert row["train_loss_ci95"] > 1.5 * row["train_loss_std"]  # the two differ: n = 4, t = 3.18


def test_caption_states_the_statistic_n_epoch_and_the_diverged_members():
  table = results.summarize(small_sweep())  # epoch 2; he_normal: 2 in the statistics, 1 diverged
  _, text = markdown_parts(results.to_markdown(table))
  assert text == results.caption(table, "ci95") == (
      "Mean ± 95% CI (Student t half-width, n - 1 dof) over n = 2 to 3 members per row, after "
      "epoch 2. Diverged members (1 of 6) are excluded from the statistics and counted in the last "
      "column.")
  same_n = results.summarize(small_sweep(), epoch=1)
  assert results.caption(same_n, "std") == (
      "Mean ± std (sample standard deviation, divisor n - 1) over n = 3 members per row, after "
      "epoch 1. Diverged members (0 of 6) are excluded from the statistics and counted in the last "
      "column.")
  assert results.caption([], "std") == "No members."


def test_caption_names_rows_with_too_few_members_and_unmarked_nan_members():
  rows = [record(0, 1, "a", loss=0.3), record(1, 1, "b", diverged=True),
          record(2, 1, "c", loss=0.2), record(3, 1, "c", loss=NAN), record(4, 4, "d")]
  table = results.summarize(rows)
  assert [(t["n"], t["n_diverged"], t["n_total"]) for t in table] == [(1, 0, 1), (0, 1, 1), (1, 0, 2),
                                                                      (1, 0, 1)]
  text = results.caption(table, "ci95")
  assert "over n = 0 to 1 members per row, after epochs 1 to 4 (each member's last)." in text
  assert "Diverged members (1 of 5) are excluded" in text
  assert text.endswith("1 other member with a non-finite metric is excluded too. A row with n = 1 "
                       "shows its mean alone. A row with n = 0 shows n/a.")
  _, caption = markdown_parts(results.to_markdown(table))
  assert caption == text
  assert results.to_latex(table).splitlines()[-1].endswith("A row with n = 0 shows --.}")


def test_latex_has_booktabs_rules_escapes_pm_and_the_caption():
  rows = [record(0, 1, "he_normal(gain=2)", acc=0.9), record(1, 1, "he_normal(gain=2)", acc=0.8),
          record(2, 1, "50%_&_#1", acc=0.5)]
  table = results.summarize(rows)
  tex = results.to_latex(table, ["train_loss", "train_acc"])
  lines = tex.strip().split("\n")
  assert lines[0] == r"\begin{tabular}{lrrr}" and lines[-2] == r"\end{tabular}"
  assert [lines[1], lines[3], lines[-3]] == [r"\toprule", r"\midrule", r"\bottomrule"]
  assert lines[2] == (r"scheme & train\_loss mean $\pm$ 95\% CI & train\_acc (\%) mean $\pm$ 95\% CI"
                      r" & diverged \\")
  cells = [c.strip() for c in lines[4].removesuffix(r"\\").split("&")]
  assert cells[0] == r"he\_normal(gain=2)" and cells[3] == "0/2"
  mean, half = map(float, cells[2].split(r" $\pm$ "))
  assert (mean, half) == (85.0, round(100 * table[0]["train_acc_ci95"], 1))
  assert lines[5].startswith(r"50\%\_\&\_\#1 & 0.500 & 50.0 & 0/1")
  caption = results.caption(table, "ci95", missing="--")
  assert lines[-1] == "% \\caption{" + caption.replace("%", r"\%").replace("±", r"$\pm$") + "}"
  assert lines[-1].startswith(r"% \caption{Mean $\pm$ 95\% CI (Student t half-width, n - 1 dof) over")
  assert tex.endswith("}\n") and "±" not in tex
  std = results.to_latex(table, ["train_loss"], spread="std").split("\n")
  assert std[2] == r"scheme & train\_loss mean $\pm$ std & diverged \\"
  assert std[-2].startswith(r"% \caption{Mean $\pm$ std (sample standard deviation, divisor n - 1)")


def test_csv_has_every_column_at_full_precision():
  table = results.summarize(small_sweep())
  back = list(csv.DictReader(io.StringIO(results.to_csv(table))))
  assert len(back) == 2 and list(back[0]) == list(table[0])
  assert {"n", "n_diverged", "n_total", "train_loss_mean", "train_loss_std",
          "train_loss_ci95"} <= set(back[0])
  for got, row in zip(back, table, strict=True):
    assert got["scheme"] == row["scheme"] and int(got["n_diverged"]) == row["n_diverged"]
    for key in ("train_loss_mean", "train_loss_std", "test_acc_ci95"):
      assert float(got[key]) == row[key]  # repr precision round-trips exactly


@pytest.mark.parametrize("spread", ["ci95", "std"])
def test_write_tables_writes_the_three_formats_byte_for_byte(tmp_path, spread):
  by = ("scheme", "lr")
  table = results.summarize(small_sweep(), by=by)
  args = dict(metrics=("train_acc", "test_acc"), by=by, spread=spread)
  paths = results.write_tables(table, tmp_path / "tables", stem="t1", **args)
  assert {k: p.name for k, p in paths.items()} == {"md": "t1.md", "tex": "t1.tex", "csv": "t1.csv"}
  assert paths["md"].read_bytes() == results.to_markdown(table, **args).encode()
  assert paths["tex"].read_bytes() == results.to_latex(table, **args).encode()
  assert paths["csv"].read_bytes() == results.to_csv(table).encode()
  assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == ["t1.csv", "t1.md", "t1.tex"]
