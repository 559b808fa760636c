"""Scorers: ``score(prompts, responses) -> list[float]``, higher = more aligned with the value."""
