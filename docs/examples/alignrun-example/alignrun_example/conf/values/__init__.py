"""Value configs of alignrun-example."""
