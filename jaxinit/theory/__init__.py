"""Signal-propagation theory: what infinite- and finite-width networks do at initialization.

* :mod:`~jaxinit.theory.infinite_width`: Gaussian expectations, the kernel recursion, chi_parallel and
  chi_perp, fixed points, depth scales, phases and critical points (Poole et al. 2016; Schoenholz et
  al. 2017; Roberts, Yaida & Hanin 2022, ch. 5); its names are re-exported here, so
  ``jaxinit.theory.chi_perp`` is ``jaxinit.theory.infinite_width.chi_perp``;
* :mod:`~jaxinit.theory.finite_width`: the 1/width corrections (fourth moments, kappa_4, kernel spread);
* :mod:`~jaxinit.theory.isometry`: the input-output Jacobian's spectrum (dynamical isometry);
* :mod:`~jaxinit.theory.gains`: torch's gain table and the variance-preserving gain of any activation.
"""

from jaxinit.theory.infinite_width import *  # noqa: F403 (the public face of the kernel theory)
from jaxinit.theory.infinite_width import __all__  # noqa: F401
