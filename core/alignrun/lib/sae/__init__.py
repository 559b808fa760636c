"""Sparse autoencoders on a model's residual stream: train, save/load in SAELens's format, find value
features, steer with them (DESIGN.md §1.2, issue "SAE steering")."""
