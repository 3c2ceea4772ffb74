"""Build step of the one compiled part: the float32 view kernels of ``rppgbench.store`` (everything else is in
pyproject.toml). The extension is optional: without a C compiler the install still succeeds and the reader uses its
numpy path, which gives the same values (``rppgbench.store.views.KERNEL`` says which one is in use)."""
import sys

from setuptools import Extension, setup

# -ffp-contract=off: no fused multiply-add, so each float32 operation rounds as numpy's does (bit-identical views)
_FLAGS = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off"]

setup(ext_modules=[Extension("rppgbench.store._kernels", sources=["rppgbench/store/_kernels.c"],
                             extra_compile_args=_FLAGS, optional=True)])
