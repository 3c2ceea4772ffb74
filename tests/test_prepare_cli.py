"""``rppgbench ls`` listings and the help texts of prepare/ls."""
from __future__ import annotations

from click.testing import CliRunner

from rppgbench.cli.ls import ls
from rppgbench.cli.prepare import prepare as prepare_cmd


def test_ls_datasets_lists_every_adapter_and_survives_a_missing_one(monkeypatch):
    from rppgbench.datasets import DATASETS

    monkeypatch.setitem(DATASETS._lazy, "ghost", "rppgbench.datasets.ghost_adapter:Ghost")
    monkeypatch.setitem(DATASETS._meta, "ghost", {})
    r = CliRunner().invoke(ls, ["datasets"])
    assert r.exit_code == 0, r.output
    for name in DATASETS.names():
        assert name in r.output
    assert "ghost\n  (adapter not available: ModuleNotFoundError" in r.output
    info = DATASETS.get("synthetic").info
    assert f"synthetic: {info.title}" in r.output and f"licence: {info.licence}" in r.output
    assert r.output.count("licence:") == len(DATASETS.names()) - 1


def test_help_texts_have_examples():
    for cmd, args in [(prepare_cmd, ["--help"]), (ls, ["--help"]), (ls, ["datasets", "--help"]),
                      (ls, ["models", "--help"]), (ls, ["protocols", "--help"]), (ls, ["metrics", "--help"])]:
        r = CliRunner().invoke(cmd, args)
        assert r.exit_code == 0 and "Example" in r.output, (args, r.output)


def test_ls_metrics_and_protocols_are_thin_listings():
    r = CliRunner().invoke(ls, ["metrics"])
    assert r.exit_code == 0 and "MAE [bpm] (lower is better)" in r.output and "profiles:" in r.output
    assert r.output.count("MAE [bpm]") == 1  # aliases are not repeated
    r = CliRunner().invoke(ls, ["protocols"])
    assert r.exit_code == 0 and r.output.strip()


def test_store_preprocess_and_cli_modules_do_not_import_torch_or_dask():
    import subprocess
    import sys

    code = ("import sys, rppgbench.store, rppgbench.preprocess, rppgbench.preprocess.face.track, "
            "rppgbench.cli.prepare, rppgbench.cli.ls; "
            "print(sorted(m for m in ('torch', 'dask', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
