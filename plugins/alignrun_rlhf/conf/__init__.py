"""Config folder of the rlhf plugin."""
