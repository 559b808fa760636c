"""Config folder of the reward_model plugin (pkg://alignrun_reward_model.conf)."""
