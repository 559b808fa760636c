"""The shared `method.lora` config group."""
