"""rppgbench.results."""
