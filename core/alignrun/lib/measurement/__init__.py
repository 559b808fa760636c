"""Measuring value profiles across many settings: the sampling plan, the (role, intervention) samples,
the manipulation check that picks a profile mode a model passes. Value graphs and the intervention
search use it; the ``profile=`` profilers it drives are the core's (:mod:`alignrun.profile`)."""
