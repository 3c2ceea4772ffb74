"""Run results (torch-free): the results.json schema, predictions npz and rPPG-Toolbox pickle I/O.

See docs/results_format.md. Reports and the leaderboard read only what these functions write.
"""
from rppgbench.results.io import (
                                  RESULTS_FILE,
                                  read_predictions,
                                  read_results,
                                  read_toolbox_pickle,
                                  write_predictions,
                                  write_results,
                                  write_toolbox_pickle,
)
from rppgbench.results.schema import FORMAT_VERSION, check_results, strip_volatile

__all__ = ["RESULTS_FILE", "FORMAT_VERSION", "check_results", "strip_volatile", "read_results",
           "write_results", "read_predictions", "write_predictions", "read_toolbox_pickle", "write_toolbox_pickle"]
