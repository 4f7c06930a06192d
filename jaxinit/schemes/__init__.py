"""Whole-network initialization schemes: which initializer each layer gets, and what follows.

* :mod:`~jaxinit.schemes.catalog`: :class:`Scheme` (kernel and bias initializers, one or one per
  layer, and an optional refinement) and its registry (``get``, ``known``); re-exported here, so
  ``jaxinit.schemes.get`` is ``jaxinit.schemes.catalog.get``;
* :mod:`~jaxinit.schemes.datadep`: the data-dependent refinements (LSUV, MetaInit), pure and vmap-able;
* :mod:`~jaxinit.schemes.programs`: the compiled init programs (one per architecture for every
  affine scheme);
* :mod:`~jaxinit.schemes.predictions`: what theory predicts for a scheme (per-layer C_W, C_b, the
  kernel and the finite-width fourth moment).
"""

from jaxinit.schemes.catalog import *  # noqa: F403 (the public face of the scheme registry)
from jaxinit.schemes.catalog import __all__  # noqa: F401
