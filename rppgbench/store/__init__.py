"""rppgbench.store."""
