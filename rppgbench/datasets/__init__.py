"""Dataset adapters, looked up by name in :data:`DATASETS`.

Adding a dataset: write ``rppgbench/datasets/<name>.py`` with a :class:`DatasetAdapter` subclass and add one
line to ``_ADAPTERS`` below.
"""
from __future__ import annotations

from rppgbench._registry import Registry
from rppgbench.datasets.base import DatasetAdapter, DatasetInfo, LabelTrack, RawRecording

__all__ = ["DATASETS", "DatasetAdapter", "DatasetInfo", "LabelTrack", "RawRecording", "get_adapter"]

DATASETS: Registry[type[DatasetAdapter]] = Registry("dataset", base=DatasetAdapter)

_ADAPTERS = {
    "synthetic": "rppgbench.datasets.synthetic:SyntheticAdapter",
    "ubfc_rppg": "rppgbench.datasets.ubfc_rppg:UBFCrPPGAdapter",
    "pure": "rppgbench.datasets.pure:PUREAdapter",
    "mmpd": "rppgbench.datasets.mmpd:MMPDAdapter",
    "buaa_mihe": "rppgbench.datasets.buaa_mihe:BUAAMIHEAdapter",
    "ibvp": "rppgbench.datasets.ibvp:IBVPAdapter",
    "scamps": "rppgbench.datasets.scamps:SCAMPSAdapter",
}
for _name, _target in _ADAPTERS.items():
    DATASETS.register_lazy(_name, _target)


def get_adapter(name: str, **options) -> DatasetAdapter:
    """Instantiate the adapter registered as ``name`` with recipe dataset options."""
    return DATASETS.get(name)(**options)
