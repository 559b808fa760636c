"""Method configs of the none plugin."""
