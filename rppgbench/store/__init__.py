"""Prepared stores: one Zarr v3 store per (dataset, recipe), written by :func:`prepare`, read by
:func:`open_store`. The format is documented in ``docs/store_format.md``. Importing this package never
imports torch (only :mod:`rppgbench.store.torchdata` does) nor dask (only when prepare uses it).
"""
from rppgbench.store.layout import CHUNK_FRAMES, FORMAT_VERSION
from rppgbench.store.reader import Store, open_store
from rppgbench.store.views import VIEWS
from rppgbench.store.writer import PreparePlan, PrepareSummary, plan_prepare, prepare, store_path

__all__ = ["Store", "open_store", "store_path", "prepare", "plan_prepare", "PrepareSummary", "PreparePlan", "VIEWS",
           "FORMAT_VERSION", "CHUNK_FRAMES"]
