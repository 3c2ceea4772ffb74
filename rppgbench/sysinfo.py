"""Facts about this machine and installation (used by ``sys-info`` and recorded in run provenance)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

_PACKAGES = ("numpy", "scipy", "pandas", "opencv-python-headless", "h5py", "zarr", "dask", "distributed",
             "torch", "matplotlib", "click", "pyyaml", "scikit-image", "mediapipe", "face-alignment")


def package_versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def torch_info() -> dict[str, str]:
    """torch, CUDA and GPU facts; imports torch (so not called from torch-free layers)."""
    try:
        import torch
    except ImportError:
        return {"torch": "not installed"}
    info = {"torch": torch.__version__, "cuda_available": str(torch.cuda.is_available()),
            "cuda_version": str(torch.version.cuda), "torch_threads": str(torch.get_num_threads())}
    if torch.cuda.is_available():
        info["gpus"] = "; ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return info


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The git commit of the source tree rppgbench runs from, when it is a git checkout."""
    root = Path(path) if path else Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def collect() -> dict[str, str]:
    from rppgbench import __version__

    info = {"rppgbench": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
            "machine": platform.machine(), "cpu_count": str(os.cpu_count())}
    commit = git_commit()
    if commit:
        info["git_commit"] = commit
    info.update({f"pkg:{k}": v for k, v in package_versions().items()})
    info.update(torch_info())
    return info
