"""Method configs of alignrun-example."""
