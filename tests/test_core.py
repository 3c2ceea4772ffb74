"""Registry, checks, CLI entry and the layering rule (torch stays out of the light layers)."""
from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from rppgbench._checks import check_option, check_range, check_safe_id
from rppgbench._registry import Registry, RegistryError


def test_registry_register_lookup_and_errors():
    reg: Registry = Registry("widget")
    reg.register("alpha", 1)

    @reg.register("beta")
    def beta():
        return 2

    reg.register_lazy("gamma", "math:pi")
    assert reg.names() == ["alpha", "beta", "gamma"]
    assert reg.get("alpha") == 1 and reg.get("beta")() == 2
    assert abs(reg.get("gamma") - 3.14159) < 1e-4
    assert reg.origin("gamma") == "math:pi"
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("alpha", 3)
    with pytest.raises(RegistryError, match="did you mean 'alpha'"):
        reg.get("alpah")


def test_registry_base_class_check():
    class Base: ...

    class Good(Base): ...

    class Bad: ...

    reg: Registry = Registry("thing", base=Base)
    reg.register("good", Good)
    assert reg.get("good") is Good
    with pytest.raises(RegistryError, match="must subclass Base"):
        reg.register("bad", Bad)
    reg.register_lazy("lazybad", "fractions:Fraction")
    with pytest.raises(RegistryError, match="must subclass Base"):
        reg.get("lazybad")


def test_checks_name_parameter_and_values():
    with pytest.raises(ValueError, match=r"mode must be one of 'a', 'b'; got 'c'"):
        check_option("mode", "c", ["a", "b"])
    with pytest.raises(ValueError, match=r"fs must be in \(0, inf\]; got 0"):
        check_range("fs", 0, 0, None, low_inclusive=False)
    assert check_safe_id("id", "subject_1.mat") == "subject_1.mat"
    for bad in ["../x", "a/b", "..", ".hidden", "a..b", "x\\y", ""]:
        with pytest.raises(ValueError):
            check_safe_id("id", bad)


def test_cli_version_and_help():
    from rppgbench.cli import cli

    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0 and "rppgbench" in r.output
    r = CliRunner().invoke(cli, ["--help"])
    assert r.exit_code == 0 and "Example" in r.output


def test_every_cli_command_has_help_with_example():
    from rppgbench.cli import COMMANDS, cli

    runner = CliRunner()
    for name in COMMANDS:
        r = runner.invoke(cli, [name, "--help"])
        assert r.exit_code == 0, f"{name} --help failed: {r.output}"
        assert "Example" in r.output, f"{name} --help has no example"


def test_sys_info_runs():
    from rppgbench.cli import cli

    r = CliRunner().invoke(cli, ["sys-info"])
    assert r.exit_code == 0
    assert "cpu_count" in r.output and "torch" in r.output


@pytest.mark.parametrize("module", ["rppgbench", "rppgbench.protocols", "rppgbench.evaluation",
                                    "rppgbench.reporting", "rppgbench.signal", "rppgbench.datasets",
                                    "rppgbench.cli"])
def test_light_layers_do_not_import_torch(module):
    code = f"import sys, {module}; assert 'torch' not in sys.modules, 'torch imported by {module}'"
    subprocess.run([sys.executable, "-c", code], check=True)
