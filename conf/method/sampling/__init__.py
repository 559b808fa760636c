"""The shared `method.sampling` config group."""
