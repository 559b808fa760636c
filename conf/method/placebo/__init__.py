"""The shared `method.placebo` config group."""
