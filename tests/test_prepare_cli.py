"""``rppgbench ls`` listings and the help texts of prepare/ls."""
from __future__ import annotations

from click.testing import CliRunner

from rppgbench.cli.ls import ls
from rppgbench.cli.prepare import prepare as prepare_cmd


def test_ls_datasets_lists_every_adapter_and_a_broken_one_is_a_bug(monkeypatch):
    from rppgbench.datasets import DATASETS

    r = CliRunner().invoke(ls, ["datasets"])
    assert r.exit_code == 0, r.output
    for name in DATASETS.names():
        assert f"{name}: {DATASETS.get(name).info.title}" in r.output
    info = DATASETS.get("synthetic").info
    assert f"licence: {info.licence}" in r.output
    assert r.output.count("licence:") == len(DATASETS.names())
    # a registration whose module does not exist is a bug: it surfaces, it is not listed as "not available"
    monkeypatch.setitem(DATASETS._lazy, "ghost", "rppgbench.datasets.ghost_adapter:Ghost")
    monkeypatch.setitem(DATASETS._meta, "ghost", {})
    r = CliRunner().invoke(ls, ["datasets"])
    assert isinstance(r.exception, ModuleNotFoundError) and "ghost_adapter" in str(r.exception)


def test_help_texts_have_examples():
    for cmd, args in [(prepare_cmd, ["--help"]), (ls, ["--help"]), (ls, ["datasets", "--help"]),
                      (ls, ["models", "--help"]), (ls, ["protocols", "--help"]), (ls, ["metrics", "--help"]),
                      (ls, ["detectors", "--help"]), (ls, ["recipes", "--help"])]:
        r = CliRunner().invoke(cmd, args)
        assert r.exit_code == 0 and "Example" in r.output, (args, r.output)


def test_ls_metrics_and_protocols_are_thin_listings():
    r = CliRunner().invoke(ls, ["metrics"])
    assert r.exit_code == 0 and "MAE [bpm] (lower is better)" in r.output and "profiles:" in r.output
    assert r.output.count("MAE [bpm]") == 1  # aliases are not repeated
    r = CliRunner().invoke(ls, ["protocols"])
    assert r.exit_code == 0 and r.output.strip()


def test_ls_detectors_and_recipes_read_their_registries():
    from rppgbench.preprocess.face import FACE_DETECTORS
    from rppgbench.preprocess.recipe import NAMED_RECIPES

    r = CliRunner().invoke(ls, ["detectors"])
    assert r.exit_code == 0 and [line.split(":")[0] for line in r.output.splitlines()] == FACE_DETECTORS.names()
    assert "haar: OpenCV Haar cascade" in r.output and "pip install 'rppgbench[mediapipe]'" in r.output
    r = CliRunner().invoke(ls, ["recipes"])
    assert r.exit_code == 0 and [line.split(":")[0] for line in r.output.splitlines()] == NAMED_RECIPES.names()
    assert "(size=128, detect_every=0, enlarge=1.5)" in r.output


def test_store_preprocess_and_cli_modules_do_not_import_torch_or_dask():
    import subprocess
    import sys

    code = ("import sys, rppgbench.store, rppgbench.preprocess, rppgbench.preprocess.face.track, "
            "rppgbench.cli.prepare, rppgbench.cli.ls; "
            "print(sorted(m for m in ('torch', 'dask', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
