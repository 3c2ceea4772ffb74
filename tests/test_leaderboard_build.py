"""Leaderboard README and static site: escaping, CSP, ordering, charts; the committed leaderboard verifies."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from _lb_helpers import DEFAULT_MODELS, PROTOCOL, PROTOCOLS, manifest, write_results

from rppgbench.leaderboard import build, submit, verify, write_reference
from rppgbench.leaderboard.build import README_MARKER, SORT_JS, md_text
from rppgbench.reporting.html import CSP

REPO_LEADERBOARDS = Path(__file__).resolve().parents[1] / "leaderboards"
MD_ATTACK = "| [click](javascript:alert(1)) <b onmouseover=alert(1)>x</b> `code` *bold*"
HTML_ATTACK = "\"><img src=x onerror=alert(1)><script>alert(2)</script>"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("b")
    run = write_results(d / "run", {k: DEFAULT_MODELS[k] for k in ("pos", "tinynet")}, n_rec=3)
    root = d / "lb"
    write_reference(run, root)
    (root / "README.md").write_text("# Intro kept\n\nSome text.\n\n" + README_MARKER + "\nold table\n")
    submit(run, PROTOCOL, model="pos", manifest=manifest(method_name=MD_ATTACK, hardware=HTML_ATTACK,
                                                           training_data=[HTML_ATTACK]), root=root, entry_id="p",
           protocols_root=PROTOCOLS)
    # "$...$" would be matplotlib mathtext, and this one is invalid: the charts must still draw
    submit(run, PROTOCOL, model="tinynet", manifest=manifest(method_name="Tiny $\\badcmd{x}$ net",
                                                               synthetic_data_only=True), root=root, entry_id="t",
           protocols_root=PROTOCOLS)
    index = build(root)
    return root, index.parent, run


def test_readme_tables_escaped_and_intro_kept(built):
    root, site, run = built
    text = (root / "README.md").read_text()
    assert text.startswith("# Intro kept\n\nSome text.\n")
    assert text.count(README_MARKER) == 1 and "old table" not in text
    assert "[click](javascript" not in text and "<b " not in text and "<img" not in text
    assert md_text(MD_ATTACK) in text
    rows = [line for line in text.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert len(rows) == 2 and "Tiny" in rows[0]  # tinynet has the lower MAE: ranked first
    res = json.loads((run / "results.json").read_text())
    mae = {r["model"]: r for r in res["rows"] if r["metric"] == "MAE"}
    assert f"{mae['tinynet']['value']:.2f} ± {mae['tinynet']['se']:.2f}" in rows[0]
    assert f"{mae['pos']['value']:.2f} ± {mae['pos']['se']:.2f}" in rows[1]
    assert "synthetic data only" in text
    # a table row keeps its column count despite "|" in the submitted name
    assert all(len(re.split(r"(?<!\\)\|", r)) == len(re.split(r"(?<!\\)\|", rows[0])) for r in rows)


def test_site_escapes_everything_and_has_csp(built):
    root, site, _ = built
    assert sorted(p.name for p in site.iterdir() if p.suffix != ".png") == sorted(
        ["index.html", f"{PROTOCOL}.html", "sort.js", "style.css", "leaderboard.json"])
    page = (site / f"{PROTOCOL}.html").read_text()
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP.replace(chr(39), "&#x27;")}">' in page
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP.split("script-src")[1].split(";")[0]
    # the only script element is the external sort.js; no inline script, no injected tags or handlers
    assert re.findall(r"<script[^>]*>", page) == ['<script src="sort.js" defer>']
    assert "<img src=x" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img" in page
    pngs = sorted(site.glob("*.png"))
    assert len(pngs) == 2 and all(p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 3000 for p in pngs)
    assert (site / "sort.js").read_text() == SORT_JS


def test_rebuild_is_deterministic(built, tmp_path):
    root, site, _ = built
    again = build(root, tmp_path / "site2", readme=False).parent
    for p in site.iterdir():
        assert (again / p.name).read_bytes() == p.read_bytes(), p.name


def test_build_cli(built, tmp_path):
    from click.testing import CliRunner

    from rppgbench.cli import cli
    root, _, _ = built
    r = CliRunner().invoke(cli, ["leaderboard", "build", "--root", str(root), "--output", str(tmp_path / "s"),
                                 "--no-readme"])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == str(tmp_path / "s" / "index.html")


def test_committed_leaderboards_verify():
    """CI gate: every committed entry reproduces (a hand-edited number makes this fail)."""
    rep = verify(REPO_LEADERBOARDS)
    assert rep.ok, "\n".join(rep.lines())


def test_hand_edited_copy_of_committed_leaderboards_fails(tmp_path):
    shutil.copytree(REPO_LEADERBOARDS, tmp_path / "lb", ignore=shutil.ignore_patterns("site"))
    entries = sorted(p for p in (tmp_path / "lb").glob("*/*/metrics.json"))
    if not entries:
        pytest.skip("no committed entries yet (seeded by the lead with `rppgbench leaderboard seed`)")
    met = json.loads(entries[0].read_text())
    ds = sorted(met["datasets"])[0]
    met["datasets"][ds]["MAE"]["value"] = round(met["datasets"][ds]["MAE"]["value"] * 0.9, 3)
    entries[0].write_text(json.dumps(met))
    rep = verify(tmp_path / "lb")
    key = f"{entries[0].parent.parent.name}/{entries[0].parent.name}"
    assert any(f"metrics.datasets.{ds}.MAE.value" in p for p in rep.problems[key])


def test_leaderboard_and_its_commands_stay_torch_and_matplotlib_free_on_import():
    import subprocess
    import sys

    mods = "rppgbench.leaderboard, rppgbench.cli.leaderboard, rppgbench.cli.submit, rppgbench.cli.report"
    code = (f"import sys, {mods}; bad = [m for m in ('torch', 'matplotlib') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
