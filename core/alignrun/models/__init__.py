"""Model sources for ``model=``: each config's ``_target_`` is a builder here returning an ``LM``."""
