"""rppgbench.evaluation."""
