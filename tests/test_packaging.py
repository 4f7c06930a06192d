"""Packaging and citation: one version everywhere, the README's BibTeX equal to CITATION.cff, the
wheel's metadata (PEP 639 license, PEP 561 marker), and ``jaxinit schemes --bib``."""

import importlib.metadata
import pathlib
import re
import tomllib

import pytest
import yaml  # PyYAML, a dependency of flax

import jaxinit
from jaxinit import cli, initializers
from jaxinit.schemes import catalog, references

ROOT = pathlib.Path(__file__).resolve().parents[1]
CITATION = yaml.safe_load((ROOT / "CITATION.cff").read_text())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def bibtex_fields(entry: str) -> dict[str, str]:
  """``{field: value}`` of one BibTeX entry written one field a line (``  name = {value},``), plus
  ``"@type"`` and ``"@key"``."""
  head = re.match(r"@(\w+)\{([^,]+),\n", entry)
  assert head, f"not a BibTeX entry: {entry[:80]!r}"
  fields = dict(re.findall(r"^  (\w+) = \{(.*)\},$", entry, re.MULTILINE))
  assert entry.count("{") == entry.count("}"), f"unbalanced braces in {head.group(2)}"
  return {"@type": head.group(1), "@key": head.group(2), **fields}


def test_one_version_everywhere():
  assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
  assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "jaxinit.__version__"}
  assert jaxinit.__version__ == importlib.metadata.version("jaxinit")
  assert str(CITATION["version"]) == jaxinit.__version__


def test_readme_bibtex_matches_citation_cff():
  readme = (ROOT / "README.md").read_text()
  section = readme[readme.index("## How to cite"):]
  blocks = re.findall(r"```bibtex\n(.*?)```", section, re.DOTALL)
  assert len(blocks) == 1, "the How to cite section should hold one BibTeX block"
  bib = bibtex_fields(blocks[0])
  authors = [f"{{{a['name']}}}" if "name" in a else f"{a['family-names']}, {a['given-names']}"
             for a in CITATION["authors"]]
  assert bib["@type"] == "software"
  assert bib["author"] == " and ".join(authors)
  assert bib["title"] == CITATION["title"]
  assert bib["version"] == str(CITATION["version"])
  assert bib["year"] == str(CITATION["date-released"].year)
  assert bib["url"] == CITATION["url"]


def test_wheel_metadata():
  project = PYPROJECT["project"]
  assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
  assert not [c for c in project["classifiers"] if c.startswith("License ::")]  # PEP 639
  assert "Typing :: Typed" in project["classifiers"]
  assert (ROOT / "jaxinit" / "py.typed").is_file()
  assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["jaxinit"]
  assert set(project["urls"]) == {"Homepage", "Documentation", "Source", "Changelog"}
  assert CITATION["url"] in project["urls"]["Homepage"]


def test_every_reference_names_a_known_scheme():
  known = {*catalog.known(), *initializers.ALIASES, *catalog.ALIASES}
  assert set(references.REFERENCES) <= known
  keys = [entry.key for entry in set(references.REFERENCES.values())]
  assert len(keys) == len(set(keys)), "two papers share a BibTeX key"


def test_bib_of_one_scheme(capsys):
  assert cli.main(["schemes", "--bib", "he_normal"]) == 0
  out = capsys.readouterr().out
  comment, entry = out.strip().split("\n", 1)
  assert comment == "% he_normal"
  fields = bibtex_fields(entry)
  assert fields["@key"] == "he2015delving" and fields["year"] == "2015"
  assert fields["author"].startswith("He, Kaiming and") and "Rectifiers" in fields["title"]
  assert fields["eprint"] == "1502.01852"


def test_bib_cites_each_paper_once_and_names_schemes_without_one(capsys):
  assert cli.main(["schemes", "--bib", "he_normal", "kaiming_uniform", "zeros", "rezero",
                   "lsuv(tol=0.05)"]) == 0
  out = capsys.readouterr().out
  assert re.findall(r"^@\w+\{(\w+),", out, re.MULTILINE) == [
      "he2015delving", "bachlechner2021rezero", "mishkin2016all"]
  assert "% he_normal, kaiming_uniform\n" in out and "% zeros: follows no paper\n" in out


def test_bib_of_all_schemes(capsys):
  assert cli.main(["schemes", "--bib"]) == 0
  entries = re.split(r"\n\n(?=% )", capsys.readouterr().out.strip())
  papers = {entry.key for entry in references.REFERENCES.values()}
  assert sorted(bibtex_fields(e.split("\n", 1)[1])["@key"] for e in entries) == sorted(papers)


@pytest.mark.parametrize("argv, message", [
    (["schemes", "--bib", "hee_normal"], "unknown scheme 'hee_normal'; known: "),
    (["schemes", "he_normal"], "are read only with --bib"),
])
def test_bib_refusals_are_one_line_and_exit_2(capsys, argv, message):
  assert cli.main(argv) == 2
  err = capsys.readouterr().err
  assert message in err and err.count("\n") == 1
