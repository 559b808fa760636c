"""Config folder of alignrun-example (pkg://alignrun_example.conf); Hydra imports it, so it is a package."""
