"""rppgbench.reporting."""
