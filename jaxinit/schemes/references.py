"""The papers behind the schemes, as BibTeX: ``jaxinit schemes --bib [NAME ...]``.

:data:`REFERENCES` maps a scheme name (an initializer's, a whole-network scheme's, or an alias that
names a paper of its own, as ``rezero``) to the paper it follows; it is the one place a scheme's
citation is written (docstrings cite in prose). It lives with the scheme registry because only this
layer knows every scheme name and alias. Schemes that follow no paper (``zeros``, ``normal``,
``variance_scaling``, ``layers``, ...) have no entry.

>>> print(bibliography(["he_normal"]).splitlines()[1])
@inproceedings{he2015delving,
>>> print(bibliography(["zeros"]))
% zeros: follows no paper
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from jaxinit import initializers, names
from jaxinit.schemes import catalog

__all__ = ["BibEntry", "REFERENCES", "reference", "bibliography"]

_VENUE_FIELD = {"inproceedings": "booktitle", "incollection": "booktitle", "article": "journal",
                "techreport": "institution"}
"""The BibTeX field that names an entry type's venue."""


@dataclasses.dataclass(frozen=True)
class BibEntry:
  """One paper.

  Attributes:
    key: the BibTeX key, ``<first author><year><first title word>``.
    kind: the BibTeX entry type: ``inproceedings``, ``incollection``, ``article`` or ``techreport``.
    authors: ``"Last, First"`` each, in the paper's order.
    title: as printed, with braces around words whose capitals BibTeX must keep.
    venue: the proceedings, book, journal (``arXiv preprint arXiv:<id>`` for a preprint) or
      institution.
    year: the year of ``venue``.
    arxiv: the arXiv identifier, or ``""``.
    doi: the DOI, or ``""``.
  """

  key: str
  kind: str
  authors: tuple[str, ...]
  title: str
  venue: str
  year: int
  arxiv: str = ""
  doi: str = ""

  def __post_init__(self) -> None:
    if self.kind not in _VENUE_FIELD:
      raise ValueError(f"BibEntry {self.key}: kind {self.kind!r} is not supported; accepted: "
                       f"{', '.join(_VENUE_FIELD)}")

  def bibtex(self) -> str:
    """The entry in BibTeX, one field a line."""
    fields = [("author", " and ".join(self.authors)), ("title", self.title),
              (_VENUE_FIELD[self.kind], self.venue), ("year", str(self.year))]
    if self.arxiv:
      fields += [("eprint", self.arxiv), ("archivePrefix", "arXiv")]
    if self.doi:
      fields.append(("doi", self.doi))
    body = "".join(f"  {name} = {{{value}}},\n" for name, value in fields)
    return f"@{self.kind}{{{self.key},\n{body}}}"


_GLOROT = BibEntry(
    "glorot2010understanding", "inproceedings", ("Glorot, Xavier", "Bengio, Yoshua"),
    "Understanding the difficulty of training deep feedforward neural networks",
    "Proceedings of the Thirteenth International Conference on Artificial Intelligence and "
    "Statistics (AISTATS)", 2010)
_LECUN = BibEntry(
    "lecun1998efficient", "incollection",
    ("LeCun, Yann", "Bottou, L{\\'e}on", "Orr, Genevieve B.", "M{\\\"u}ller, Klaus-Robert"),
    "Efficient {BackProp}", "Neural Networks: Tricks of the Trade", 1998,
    doi="10.1007/3-540-49430-8_2")
_HE = BibEntry(
    "he2015delving", "inproceedings",
    ("He, Kaiming", "Zhang, Xiangyu", "Ren, Shaoqing", "Sun, Jian"),
    "Delving Deep into Rectifiers: Surpassing Human-Level Performance on {ImageNet} Classification",
    "Proceedings of the IEEE International Conference on Computer Vision (ICCV)", 2015,
    arxiv="1502.01852", doi="10.1109/ICCV.2015.123")
_MUP = BibEntry(
    "yang2022tensor", "article",
    ("Yang, Greg", "Hu, Edward J.", "Babuschkin, Igor", "Sidor, Szymon", "Liu, Xiaodong",
     "Farhi, David", "Ryder, Nick", "Pachocki, Jakub", "Chen, Weizhu", "Gao, Jianfeng"),
    "Tensor Programs {V}: Tuning Large Neural Networks via Zero-Shot Hyperparameter Transfer",
    "arXiv preprint arXiv:2203.03466", 2022, arxiv="2203.03466")

REFERENCES: dict[str, BibEntry] = {
    **dict.fromkeys(("glorot_normal", "glorot_uniform", "glorot_truncated_normal",
                     "simple_xavier"), _GLOROT),  # simple_xavier: their eq. 1, the heuristic
    **dict.fromkeys(("lecun_normal", "lecun_uniform", "lecun_truncated_normal"), _LECUN),
    **dict.fromkeys(("he_normal", "he_uniform", "he_truncated_normal"), _HE),
    "orthogonal": BibEntry(
        "saxe2014exact", "inproceedings",
        ("Saxe, Andrew M.", "McClelland, James L.", "Ganguli, Surya"),
        "Exact solutions to the nonlinear dynamics of learning in deep linear neural networks",
        "International Conference on Learning Representations (ICLR)", 2014, arxiv="1312.6120"),
    "delta_orthogonal": BibEntry(
        "xiao2018dynamical", "inproceedings",
        ("Xiao, Lechao", "Bahri, Yasaman", "Sohl-Dickstein, Jascha", "Schoenholz, Samuel S.",
         "Pennington, Jeffrey"),
        "Dynamical Isometry and a Mean Field Theory of {CNNs}: How to Train 10,000-Layer Vanilla "
        "Convolutional Neural Networks",
        "Proceedings of the 35th International Conference on Machine Learning (ICML)", 2018,
        arxiv="1806.05393"),
    "critical": BibEntry(
        "schoenholz2017deep", "inproceedings",
        ("Schoenholz, Samuel S.", "Gilmer, Justin", "Ganguli, Surya", "Sohl-Dickstein, Jascha"),
        "Deep Information Propagation",
        "International Conference on Learning Representations (ICLR)", 2017, arxiv="1611.01232"),
    "lsuv": BibEntry(
        "mishkin2016all", "inproceedings", ("Mishkin, Dmytro", "Matas, Jiri"),
        "All you need is a good init",
        "International Conference on Learning Representations (ICLR)", 2016, arxiv="1511.06422"),
    "metainit": BibEntry(
        "dauphin2019metainit", "inproceedings", ("Dauphin, Yann N.", "Schoenholz, Samuel S."),
        "{MetaInit}: Initializing learning by learning to initialize",
        "Advances in Neural Information Processing Systems (NeurIPS)", 2019),
    "skipinit": BibEntry(
        "de2020batch", "inproceedings", ("De, Soham", "Smith, Samuel L."),
        "Batch Normalization Biases Residual Blocks Towards the Identity Function in Deep Networks",
        "Advances in Neural Information Processing Systems (NeurIPS)", 2020, arxiv="2002.10444"),
    "rezero": BibEntry(
        "bachlechner2021rezero", "inproceedings",
        ("Bachlechner, Thomas", "Majumder, Bodhisattwa Prasad", "Mao, Huanru Henry",
         "Cottrell, Garrison W.", "McAuley, Julian"),
        "{ReZero} is All You Need: Fast Convergence at Large Depth",
        "Proceedings of the 37th Conference on Uncertainty in Artificial Intelligence (UAI)", 2021,
        arxiv="2003.04887"),
    "fixup": BibEntry(
        "zhang2019fixup", "inproceedings", ("Zhang, Hongyi", "Dauphin, Yann N.", "Ma, Tengyu"),
        "Fixup Initialization: Residual Learning Without Normalization",
        "International Conference on Learning Representations (ICLR)", 2019, arxiv="1901.09321"),
    "gpt2": BibEntry(
        "radford2019language", "techreport",
        ("Radford, Alec", "Wu, Jeffrey", "Child, Rewon", "Luan, David", "Amodei, Dario",
         "Sutskever, Ilya"),
        "Language Models are Unsupervised Multitask Learners", "OpenAI", 2019),
    "t_fixup": BibEntry(
        "huang2020improving", "inproceedings",
        ("Huang, Xiao Shi", "Perez, Felipe", "Ba, Jimmy", "Volkovs, Maksims"),
        "Improving Transformer Optimization Through Better Initialization",
        "Proceedings of the 37th International Conference on Machine Learning (ICML)", 2020),
    "deepnorm": BibEntry(
        "wang2022deepnet", "article",
        ("Wang, Hongyu", "Ma, Shuming", "Dong, Li", "Huang, Shaohan", "Zhang, Dongdong",
         "Wei, Furu"),
        "{DeepNet}: Scaling Transformers to 1,000 Layers", "arXiv preprint arXiv:2203.00555", 2022,
        arxiv="2203.00555"),
    "small_init": BibEntry(
        "nguyen2019transformers", "inproceedings", ("Nguyen, Toan Q.", "Salazar, Julian"),
        "Transformers without Tears: Improving the Normalization of Self-Attention",
        "Proceedings of the 16th International Conference on Spoken Language Translation (IWSLT)",
        2019, arxiv="1910.05895"),
    "mup_init": _MUP,
    "mimetic": BibEntry(
        "trockman2023mimetic", "inproceedings", ("Trockman, Asher", "Kolter, J. Zico"),
        "Mimetic Initialization of Self-Attention Layers",
        "Proceedings of the 40th International Conference on Machine Learning (ICML)", 2023,
        arxiv="2305.09828"),
}
"""Scheme name -> the paper it follows (schemes that follow no paper are absent)."""


def reference(name: str) -> BibEntry | None:
  """The paper a scheme follows, or None for a scheme that follows none.

  Args:
    name: a scheme name or call (``"he_normal"``, ``"critical(tanh)"``, ``"lsuv(tol=0.05)"``) or an
      alias (``"kaiming_normal"``; ``"rezero"`` has its own paper). Only the name is read: a call's
      arguments are not checked.

  Raises:
    ValueError: a name that is no scheme and no alias (listing the known ones).
  """
  head = names.parse(name)[0]
  if head in REFERENCES:
    return REFERENCES[head]
  alias = initializers.ALIASES.get(head) or catalog.ALIASES.get(head)
  canonical = names.parse(alias)[0] if alias else head
  if canonical not in catalog.known():
    raise ValueError(f"unknown scheme {head!r}; known: {', '.join(catalog.known())} (and the "
                     f"aliases: {', '.join(sorted([*initializers.ALIASES, *catalog.ALIASES]))})")
  return REFERENCES.get(canonical)


def bibliography(schemes: Sequence[str] = ()) -> str:
  """What ``jaxinit schemes --bib`` prints: each paper once, in the order first named, under a
  ``%`` comment naming the schemes that follow it; a named scheme that follows no paper is a ``%``
  comment line (BibTeX ignores both).

  Args:
    schemes: scheme names or aliases (:func:`reference`); empty: every scheme of
      :data:`REFERENCES`, sorted by name.

  Raises:
    ValueError: an unknown scheme name.
  """
  cited: dict[BibEntry, list[str]] = {}
  blocks: list[str | BibEntry] = []
  for name in schemes or sorted(REFERENCES):
    entry = reference(name)
    if entry is None:
      blocks.append(f"% {name}: follows no paper")
    elif entry not in cited:
      cited[entry] = [name]
      blocks.append(entry)
    elif name not in cited[entry]:
      cited[entry].append(name)
  return "\n\n".join(block if isinstance(block, str) else f"% {', '.join(cited[block])}\n"
                     f"{block.bibtex()}" for block in blocks)
