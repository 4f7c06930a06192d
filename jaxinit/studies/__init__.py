"""Studies: what a command or an experiment runs, end to end, on disk.

:mod:`~jaxinit.studies.sweep` (a population trained), :mod:`~jaxinit.studies.width_sweep` (one sweep
per width), :mod:`~jaxinit.studies.coordcheck` (the coordinate check), :mod:`~jaxinit.studies.diagnose`
(a population measured at init by :mod:`~jaxinit.studies.measure`), :mod:`~jaxinit.studies.describe`
(one draw against its target; the scheme catalog), :mod:`~jaxinit.studies.criticality` (what
``jaxinit theory`` reports) and :mod:`~jaxinit.studies.gallery` (the frame of ``experiments/``)."""
