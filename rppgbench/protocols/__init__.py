"""rppgbench.protocols."""
