"""Build step of the one compiled part, ``rppgbench._kernels`` (everything else is in pyproject.toml): the store
reader's float32 view arithmetic and the per-channel loops of PHASE-Net's CPU encoder. The extension is optional:
without a C compiler the install still succeeds and both fall back to numpy/torch, with the same values for the
views (``rppgbench.store.views.kernel()`` says which path is in use) and within tolerance for PHASE-Net."""
import sys

from setuptools import Extension, setup

# -ffp-contract=off: no fused multiply-add, so each float32 operation rounds as numpy's does (bit-identical views)
_FLAGS = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off"]

setup(ext_modules=[Extension("rppgbench._kernels", sources=["rppgbench/_kernels.c"],
                             extra_compile_args=_FLAGS, optional=True)])
