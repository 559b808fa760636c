"""Config folder of the manipulation_check plugin."""
