"""The shared `method.roles` config group."""
