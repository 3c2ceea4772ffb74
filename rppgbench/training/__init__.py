"""rppgbench.training."""
