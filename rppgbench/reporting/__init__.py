"""rppgbench.reporting (torch-free): comparison tables, Bland-Altman and scatter plots, the parameters × latency
× MAE chart, critical-difference diagrams (Friedman + Nemenyi) and a self-contained HTML report.

>>> from rppgbench.reporting import report  # doctest: +SKIP
>>> report(["results/run1"], out="results/run1/report")  # doctest: +SKIP
"""
from rppgbench.reporting.cd import CDResult, friedman_nemenyi, nemenyi_q, plot_cd
from rppgbench.reporting.load import RunResults, load_run, load_runs
from rppgbench.reporting.report import ba_stats, read_model_benchmark, report
from rppgbench.reporting.tables import comparison_rows, to_csv, to_html, to_latex, to_markdown

__all__ = ["report", "friedman_nemenyi", "nemenyi_q", "plot_cd", "CDResult", "RunResults", "load_run", "load_runs",
           "ba_stats", "read_model_benchmark", "comparison_rows", "to_markdown", "to_latex", "to_csv", "to_html"]
