"""rppgbench.preprocess."""
