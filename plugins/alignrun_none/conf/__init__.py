"""Config folder of the none plugin (pkg://alignrun_none.conf)."""
