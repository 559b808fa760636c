"""Method configs of the reward_model plugin."""
