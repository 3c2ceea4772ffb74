"""The dataset adapter contract: read-only access to one dataset's raw files, in its real layout.

An adapter knows nothing about face detection, stores or protocols. ``rppgbench.store`` drives it:

1. ``discover(root)`` lists the recordings (sorted, deterministic; never dependent on directory order);
2. ``iter_frames(rec)`` streams RGB ``uint8`` frames (H, W, 3), one at a time, so a 3-minute 640×480 video
   never has to sit in memory;
3. ``frame_timestamps(rec, n_frames)`` gives the frame times in seconds on the recording's own clock
   (from the files when the format has them, else ``arange(n)/fps``); it must return exactly ``n_frames``
   values or raise :class:`~rppgbench._checks.DataError`;
4. ``read_label(rec)`` gives the ground-truth PPG with **its own** time base (:class:`LabelTrack`); the store
   aligns it onto the frame times (by time by default, or by index stretch as rPPG-Toolbox does);
5. ``frame_mask(rec, aligned)`` may drop frames (e.g. iBVP's signal-quality deletion); default keeps all.

Adding a dataset: one module subclassing :class:`DatasetAdapter`, plus one line in
``rppgbench/datasets/__init__.py``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DatasetInfo", "RawRecording", "LabelTrack", "DatasetAdapter"]


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about a dataset, shown by ``rppgbench ls datasets`` and in the README table."""

    name: str
    title: str
    fps: float
    resolution: str  # "640x480" (W x H) as distributed
    n_subjects: str  # text: exact counts are not always known ("10", "13-15 (UNVERIFIED)")
    n_recordings: str
    gt_type: str  # e.g. "contact PPG (finger, 60 Hz)"
    url: str
    licence: str
    citation: str
    doi: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RawRecording:
    """One raw recording found by ``discover``.

    ``recording_id`` is unique within the dataset and safe as a file/group name (``[A-Za-z0-9_.-]``).
    ``subject`` is the dataset's own subject id as text ("1", "01", "p01"); ``session`` the task/condition
    code ("" when none). ``metadata`` holds JSON-serialisable per-recording facts (MMPD light/motion/…,
    BUAA lux, PURE task, synthetic generator parameters). ``paths`` maps a role ("video", "label", …) to
    the file or folder it reads.
    """

    dataset: str
    recording_id: str
    subject: str
    session: str = ""
    paths: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class LabelTrack:
    """Ground-truth PPG as stored in the dataset, before alignment.

    values : float64 (N,) — the PPG samples (blood volume, larger = more blood).
    timestamps : float64 (N,) seconds on the **frame clock**, or None when the dataset has no label time
        base (then the label is assumed to span the video from first to last frame).
    fs : nominal label sampling rate in Hz (informational when timestamps exist).
    extra : other per-sample label columns on the same time base (e.g. iBVP ``sq``), aligned alongside.
    """

    values: np.ndarray
    timestamps: np.ndarray | None = None
    fs: float | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


class DatasetAdapter(ABC):
    """Base class of every dataset adapter. Subclasses set ``info`` and implement the abstract methods.

    Constructor keyword arguments are dataset options taken from the preprocessing recipe's
    ``dataset_options`` (e.g. iBVP ``sq_policy``); they must be JSON-serialisable.
    """

    info: DatasetInfo
    #: bump when a change to the adapter changes what it reads (frames, label, timestamps, metadata): stores are
    #: keyed by it, so a store written by an older adapter is never reused
    version: int = 1

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"{type(self).__name__} takes no dataset options; got {sorted(options)}")
        self.options: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return self.info.name

    @abstractmethod
    def discover(self, root: str | Path) -> list[RawRecording]:
        """All recordings under ``root``, sorted by (subject, session) numerically where ids are numbers."""

    @abstractmethod
    def iter_frames(self, rec: RawRecording) -> Iterator[np.ndarray]:
        """Yield RGB uint8 frames of shape (H, W, 3) in time order."""

    @abstractmethod
    def read_label(self, rec: RawRecording) -> LabelTrack:
        """The ground-truth PPG with its own time base."""

    def frame_timestamps(self, rec: RawRecording, n_frames: int) -> np.ndarray:
        """Frame times in seconds; default ``arange(n_frames) / info.fps``."""
        return np.arange(n_frames, dtype=np.float64) / float(self.info.fps)

    def frame_mask(self, rec: RawRecording, aligned: dict[str, np.ndarray]) -> np.ndarray | None:
        """Boolean (T,) mask of frames to keep, given labels aligned to frames; None keeps all."""
        return None

    def source_identity(self, root: str | Path) -> dict[str, Any] | None:
        """What identifies the raw folder's content when the dataset is not one fixed download (generated data):
        part of the store key, so two different raw folders never share a store. None for real datasets, whose
        recordings are checked one by one against their source checksums instead."""
        return None

    def source_files(self, rec: RawRecording) -> list[Path]:
        """Files whose checksums identify the recording's source (folders are expanded, sorted)."""
        out: list[Path] = []
        for p in rec.paths.values():
            path = Path(p)
            if path.is_dir():
                out.extend(sorted(q for q in path.rglob("*") if q.is_file()))
            elif path.exists():
                out.append(path)
        return out
