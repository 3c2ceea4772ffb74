"""rppgbench.leaderboard."""
