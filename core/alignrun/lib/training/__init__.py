"""Shared LoRA training machinery: used by DPO, RLHF and MVA (one place, not one copy per method)."""
