"""A dataset or model from outside the registries' source works in a protocol: added as CONTRIBUTING.md says (one
adapter file + one registration line), registered at run time, or brought by a ``rppgbench.plugins`` entry point
of an installed distribution. Also: exit codes of the installed console script (input error 2, bug 3), and
warnings routed through the logger. Everything runs in subprocesses, so no registry of this process changes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RPPGBENCH = shutil.which("rppgbench", path=str(Path(sys.executable).parent)) or shutil.which("rppgbench")

# an adapter over the synthetic raw layout under its own name: what a contributor writes is the file + the line
ADAPTER = '''\
"""ToyCam: the synthetic raw layout under another name (test dataset)."""
from dataclasses import replace

from rppgbench.datasets.synthetic.adapter import SyntheticAdapter


class {cls}(SyntheticAdapter):
    """ToyCam recordings (rendered by ``rppgbench synth``)."""

    info = replace(SyntheticAdapter.info, name="{name}", title="ToyCam (test dataset)")
'''

PROTOCOL = """\
protocol: {name}
version: 1
citation: {{paper: "rppgbench test"}}
datasets:
  {dataset}: {{recipe: {{base: fp72, size: 32}}}}
splits:
  test: {{dataset: {dataset}, subjects: all}}
models: [{models}]
evaluation: {{profile: rppgbench, window_s: 4, metrics: [mae, Pearson]}}
"""


def _run(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
         timeout: int = 600) -> subprocess.CompletedProcess:
    assert RPPGBENCH is not None, "the rppgbench console script is not installed"
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([RPPGBENCH, *argv], capture_output=True, text=True, env=full_env, cwd=cwd,
                          timeout=timeout)


@pytest.fixture(scope="module")
def toy_raw(tmp_path_factory) -> Path:
    """Two short synthetic recordings (subjects 01, 02) at 160x120 (seed 16: Haar finds both faces)."""
    raw = tmp_path_factory.mktemp("toy") / "raw"
    proc = _run(["synth", str(raw), "--recordings", "2", "--per-subject", "1", "--seconds", "8", "--preset",
                 "clean", "--size", "160x120", "--seed", "16"])
    assert proc.returncode == 0, proc.stderr
    return raw


def _validate_and_run(tmp_path: Path, env: dict[str, str], raw: Path, dataset: str, model: str) -> Path:
    """Write a protocol on ``dataset`` with ``model``; ``validate`` and ``run`` it through the console script and
    check the rows; returns the protocol file."""
    import json

    proto = tmp_path / f"{dataset}_protocol.yaml"
    proto.write_text(PROTOCOL.format(name=f"{dataset}_protocol", dataset=dataset, models=model))
    proc = _run(["validate", str(proto)], env)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr
    out = tmp_path / "out"
    proc = _run(["run", str(proto), "--raw", f"{dataset}={raw}", "--output", str(out), "--no-report"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads((out / "results.json").read_text())
    rows = {(r["model"], r["test_dataset"], r["metric"]): r for r in res["rows"]}
    # metrics: [mae, Pearson], for the model and the null baseline every run adds
    assert set(rows) == {(m, dataset, k) for m in (model, "null") for k in ("MAE", "Pearson")}
    assert rows[(model, dataset, "MAE")]["unit"] == "bpm" and rows[(model, dataset, "Pearson")]["unit"] == ""
    assert rows[(model, dataset, "MAE")]["value"] < 5.0  # POS on clean synthetic video
    assert sorted(res["splits"]["test"]) == [f"{dataset}/s01_r00", f"{dataset}/s02_r00"]
    return proto


@pytest.mark.slow
def test_dataset_added_as_contributing_says_validates_and_runs(tmp_path, toy_raw):
    # a copy of the package with exactly the two edits CONTRIBUTING.md asks for, nothing else
    pkg = tmp_path / "pkg"
    shutil.copytree(ROOT / "rppgbench", pkg / "rppgbench", ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "rppgbench" / "datasets" / "toycam.py").write_text(ADAPTER.format(cls="ToyCamAdapter", name="toycam"))
    init = pkg / "rppgbench" / "datasets" / "__init__.py"
    text = init.read_text()
    anchor = '    "scamps": "rppgbench.datasets.scamps:SCAMPSAdapter",\n'
    assert anchor in text
    init.write_text(text.replace(anchor, anchor + '    "toycam": "rppgbench.datasets.toycam:ToyCamAdapter",\n'))
    env = {"PYTHONPATH": str(pkg)}
    proc = _run(["ls", "datasets"], env)
    assert proc.returncode == 0 and "toycam: ToyCam (test dataset)" in proc.stdout, proc.stderr
    proto = _validate_and_run(tmp_path, env, toy_raw, "toycam", "pos")
    # without the registration line the same protocol is refused, naming the dataset
    init.write_text(text)
    proc = _run(["validate", str(proto)], env)
    assert proc.returncode == 2 and "unknown dataset 'toycam' in datasets" in proc.stderr


def test_dataset_and_model_registered_at_run_time_work_in_a_protocol(tmp_path):
    proto = tmp_path / "rt_protocol.yaml"
    proto.write_text(PROTOCOL.format(name="rt_protocol", dataset="rtcam", models="rt_pos"))
    code = textwrap.dedent(f"""
        from dataclasses import replace
        from rppgbench.datasets import DATASETS
        from rppgbench.datasets.synthetic.adapter import SyntheticAdapter
        from rppgbench.models import ModelCfg, create_model, register_model
        from rppgbench.runner_validate import validate_protocol

        class RtCam(SyntheticAdapter):
            info = replace(SyntheticAdapter.info, name="rtcam")

        DATASETS.register("rtcam", RtCam)

        @register_model(ModelCfg(name="rt_pos", arch="rt", kind="unsupervised", clip_len=None, frame_size=None,
                                 input_view="raw", label_view="raw"))
        def rt_pos(cfg, **kwargs):
            return create_model("pos", **kwargs)

        proto, recipes, plans = validate_protocol({str(proto)!r})
        assert list(recipes) == ["rtcam"] and [p.name for p in plans if p.cfg.kind != "baseline"] == ["rt_pos"]
        assert plans[0].cfg.kind == "unsupervised" and recipes["rtcam"].size == 32
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def _install_plugin(site: Path, dist: str, entry_points: str, modules: dict[str, str]) -> None:
    """A minimal installed distribution: ``<dist>.dist-info`` (METADATA, entry_points.txt) and its modules."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    for name, text in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(text))


PLUGIN = """
    # a plugin module stays torch-free at import: it registers names and lazy targets only
    from rppgbench.datasets import DATASETS
    from rppgbench.models import ModelCfg, register_model_lazy

    DATASETS.register_lazy("plugcam", "plugcam_impl:PlugCamAdapter")
    register_model_lazy(ModelCfg(name="plug_pos", arch="plug", kind="unsupervised", clip_len=None, frame_size=None,
                                 input_view="raw", label_view="raw", paper="test plugin"), "plugcam_impl:plug_pos")
"""
PLUGIN_IMPL = ADAPTER.format(cls="PlugCamAdapter", name="plugcam") + """

def plug_pos(cfg, **kwargs):
    from rppgbench.models import create_model

    return create_model("pos", **kwargs)
"""


@pytest.mark.slow
def test_plugin_entry_point_registers_a_dataset_and_a_model_usable_in_a_protocol(tmp_path, toy_raw):
    site = tmp_path / "site"
    _install_plugin(site, "rppgbench_plugcam", "[rppgbench.plugins]\nplugcam = plugcam_plugin\n",
                    {"plugcam_plugin": PLUGIN, "plugcam_impl": PLUGIN_IMPL})
    _install_plugin(site, "rppgbench_broken", "[rppgbench.plugins]\nbroken = no_such_module_xyz\n", {})
    env = {"PYTHONPATH": str(site)}
    proc = _run(["ls", "datasets"], env)
    assert proc.returncode == 0 and "plugcam: ToyCam (test dataset)" in proc.stdout, proc.stderr
    # a plugin that cannot be imported is reported and the others keep working
    assert "plugin 'broken' (no_such_module_xyz) failed to load: ModuleNotFoundError" in proc.stderr
    proc = _run(["ls", "models"], env)
    assert proc.returncode == 0 and "plug_pos: unsupervised, whole recording" in proc.stdout
    _validate_and_run(tmp_path, env, toy_raw, "plugcam", "plug_pos")
    # an unknown name names the plugin that failed to load
    bad = tmp_path / "bad_protocol.yaml"
    bad.write_text(PROTOCOL.format(name="bad_protocol", dataset="plugcam", models="nosuchmodel"))
    proc = _run(["validate", str(bad)], env)
    assert proc.returncode == 2 and "unknown model 'nosuchmodel'" in proc.stderr
    assert "plugin 'broken' failed to load (ModuleNotFoundError" in proc.stderr


def test_console_script_exit_codes_user_error_2_bug_3(tmp_path):
    proc = _run(["validate", "no_such_protocol"])
    assert proc.returncode == 2 and proc.stderr.startswith("Error: unknown protocol 'no_such_protocol'")
    assert "Traceback" not in proc.stderr
    proc = _run(["run", "synthetic_quick", "--limit", "0", "--output", str(tmp_path / "o")])
    assert proc.returncode == 2 and "--limit must be >= 1" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run(["run", "synthetic_quick", "--device", "gpu", "--output", str(tmp_path / "o")])
    assert proc.returncode == 2 and "device 'gpu' is not a torch device" in proc.stderr
    proc = _run(["ls", "nosuchlisting"])
    assert proc.returncode == 2 and "No such command" in proc.stderr
    # a bug (here: a plain KeyError raised by a plugin's adapter module) is not dressed up as an input error
    site = tmp_path / "site"
    _install_plugin(site, "rppgbench_buggy", "[rppgbench.plugins]\nbuggy = buggy_plugin\n",
                    {"buggy_plugin": 'from rppgbench.datasets import DATASETS\n'
                                     'DATASETS.register_lazy("buggy", "buggy_impl:Adapter")\n',
                     "buggy_impl": 'raise KeyError("oops")\n'})
    proc = _run(["ls", "datasets"], {"PYTHONPATH": str(site)})
    assert proc.returncode == 3, proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr and "buggy_impl.py" in proc.stderr
    assert "internal error KeyError: 'oops'" in proc.stderr and "Please report it" in proc.stderr


def test_warnings_are_logged_through_the_rppgbench_logger(tmp_path):
    import numpy as np

    fs, n = 30.0, 600  # one 20 s recording: two 10 s windows, so Pearson warns (it needs 3)
    t = np.arange(n) / fs
    wave = np.sin(2 * np.pi * 1.2 * t)
    np.savez(tmp_path / "p.npz", fs=fs, pred__r1=wave, label__r1=wave)
    proc = _run(["metrics", str(tmp_path / "p.npz")])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert "WARNING rppgbench: MetricWarning: Pearson needs at least 3 windows; got 2: reported as NaN" in lines
    assert not any("pooled_metrics(" in line or "warnings.warn" in line for line in lines), proc.stderr


def test_deprecated_out_still_works_hidden_and_warns(tmp_path):
    root = tmp_path / "lb"
    shutil.copytree(ROOT / "leaderboards", root, ignore=shutil.ignore_patterns("site"))
    proc = _run(["leaderboard", "build", "--root", str(root), "--out", str(tmp_path / "site"), "--no-readme"])
    assert proc.returncode == 0, proc.stderr
    assert "WARNING rppgbench: --out is deprecated; use --output" in proc.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    for argv in (["prepare", "--help"], ["report", "--help"], ["infer", "--help"], ["leaderboard", "build", "--help"]):
        helptext = _run(argv).stdout
        assert "--output" in helptext and "--out " not in helptext, argv
    proc = _run(["leaderboard", "build", "--root", str(root), "--out", "a", "--output", "b"])
    assert proc.returncode == 2 and "--out (deprecated) and --output disagree" in proc.stderr
