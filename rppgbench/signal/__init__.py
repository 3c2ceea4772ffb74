"""rppgbench.signal."""
