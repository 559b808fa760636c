"""The shared `method.train` config group."""
