"""Config folder of the dpo plugin."""
