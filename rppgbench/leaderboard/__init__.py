"""rppgbench.leaderboard (torch-free): submissions validated and recomputed, entries verified, static site built.

Layout and trust model: ``leaderboards/README.md``. Entry points: :func:`submit`, :func:`verify`, :func:`build`,
:func:`write_reference`, :func:`seed_from_results`.
"""
from rppgbench.leaderboard.build import build, collect
from rppgbench.leaderboard.schema import label_sha256, read_reference, validate_manifest
from rppgbench.leaderboard.seed import seed_from_results, write_reference
from rppgbench.leaderboard.submit import submit
from rppgbench.leaderboard.verify import VerifyReport, verify, verify_entry

__all__ = ["submit", "verify", "verify_entry", "VerifyReport", "build", "collect", "write_reference",
           "seed_from_results", "validate_manifest", "read_reference", "label_sha256"]
