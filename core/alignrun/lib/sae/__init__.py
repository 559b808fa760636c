"""Sparse autoencoders on a model's residual stream: train, save/load in SAELens's format, find value
features, steer with them (docs/methods/sae_steering.md)."""
