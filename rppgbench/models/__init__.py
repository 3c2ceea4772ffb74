"""rppgbench.models."""
