"""Method configs."""
