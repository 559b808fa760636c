"""Hydra config folder (read as pkg://alignrun.conf; needs this file to be a package)."""
