"""Shared raw-file readers for the dataset adapters.

Everything here raises :class:`~rppgbench._checks.DataError` naming the file (and the recording when known)
on unreadable, empty, truncated or inconsistent input. Readers:

* AVI (or any container OpenCV/FFmpeg decodes) via ``cv2.VideoCapture``, BGR → RGB, streamed frame by frame;
* PNG / BMP image sequences via ``cv2.imread`` (BGR → RGB);
* MATLAB v5 ``.mat`` via :func:`scipy.io.loadmat` and MATLAB v7.3 (HDF5) via :mod:`h5py`
  (:func:`is_mat73` tells them apart from the file signature);
* CSV via :mod:`pandas`.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import DataError
from rppgbench._logging import logger
from rppgbench._util import natural_key

__all__ = [
    "natural_key", "is_harmless", "iter_video", "video_frame_count", "video_fps", "iter_images",
    "is_mat73", "load_mat_v5", "mat_shapes", "mat_string", "mat_scalar", "h5_dataset", "read_csv", "check_label_values",
    "check_length_ratio", "float01_to_uint8", "repair_timestamps", "check_frame_clock", "HARMLESS_NAMES",
    "LENGTH_TOLERANCE", "FRAME_CLOCK_FACTOR",
]

#: relative tolerance on (label duration / video duration) before an adapter raises early
LENGTH_TOLERANCE = 0.1
#: the frame rate implied by the frame timestamps (1 / median interval) must lie within this factor of the
#: nominal rate: wide enough for real cameras (UBFC 29-30 fps, PURE ~30 with drops), narrow enough to catch
#: clocks in the wrong unit (ms: 1000x) or made-up clocks
FRAME_CLOCK_FACTOR = 2.0

#: file names (lower-case) ignored wherever they appear in a dataset tree
HARMLESS_NAMES = {".ds_store", "thumbs.db", "desktop.ini", "size.csv", "md5.txt", "md5sum.txt", "sha256sum.txt",
                  "license", "license.txt", "licence.txt", "erratum.txt"}
_HARMLESS_PREFIXES = ("readme", "._", "license", "licence")


def is_harmless(path: Path) -> bool:
    """Known-harmless clutter (``.DS_Store``, ``readme*``, ``size.csv``, AppleDouble ``._*`` files, …)."""
    name = path.name.lower()
    return name in HARMLESS_NAMES or name.startswith(_HARMLESS_PREFIXES)


# --------------------------------------------------------------------------------------------------- video


def _open_capture(path: Path, recording: str | None):
    import cv2

    if not path.is_file():
        raise DataError("video file not found", path=path, recording=recording)
    if path.stat().st_size == 0:
        raise DataError("video file is empty (0 bytes)", path=path, recording=recording)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise DataError("OpenCV cannot open this video (corrupt or unsupported codec)", path=path,
                        recording=recording)
    return cap


def iter_video(path: str | Path, recording: str | None = None) -> Iterator[np.ndarray]:
    """Stream RGB uint8 frames (H, W, 3) from a video file; raises if it yields no frame at all."""
    import cv2

    path = Path(path)
    cap = _open_capture(path, recording)
    n = 0
    shape = None
    listed = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if frame is None or frame.ndim != 3 or frame.shape[2] != 3:
                raise DataError(f"frame {n} is not a 3-channel image (got shape "
                                f"{None if frame is None else frame.shape})", path=path, recording=recording)
            if shape is None:
                shape = frame.shape
            elif frame.shape != shape:
                raise DataError(f"frame {n} has shape {frame.shape}, earlier frames {shape}", path=path,
                                recording=recording)
            n += 1
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()
    if n == 0:
        raise DataError("video decodes to 0 frames (empty or truncated)", path=path, recording=recording)
    if listed > 0 and n < listed - max(2, listed // 100):  # headers may be off by a frame or so; not by more
        raise DataError(f"could not decode frame {n} of {path}: the container lists {listed} frames (corrupt or "
                        "truncated file)", path=path, recording=recording)


def video_frame_count(path: str | Path, recording: str | None = None, exact: bool = False) -> int:
    """Frame count from the container header (fast) or, with ``exact=True``, by decoding every frame."""
    import cv2

    path = Path(path)
    if exact:
        cap = _open_capture(path, recording)
        n = 0
        try:
            while cap.grab():
                n += 1
        finally:
            cap.release()
        return n
    cap = _open_capture(path, recording)
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    if n <= 0:
        return video_frame_count(path, recording, exact=True)
    return n


def video_fps(path: str | Path, recording: str | None = None) -> float | None:
    """Nominal frame rate stored in the container header (None when the header has none)."""
    import cv2

    cap = _open_capture(Path(path), recording)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()
    return fps if np.isfinite(fps) and fps > 0 else None


def iter_images(paths: Sequence[Path], recording: str | None = None) -> Iterator[np.ndarray]:
    """Read an image sequence (PNG, BMP, …) as RGB uint8 frames; every frame must have the same shape."""
    import cv2

    if not paths:
        raise DataError("no image files found", recording=recording)
    shape = None
    for i, p in enumerate(paths):
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(f"unreadable image (frame {i})", path=p, recording=recording)
        if shape is None:
            shape = img.shape
        elif img.shape != shape:
            raise DataError(f"frame {i} has shape {img.shape}, earlier frames {shape}", path=p, recording=recording)
        yield cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def float01_to_uint8(x: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] → uint8 as ``round(x * 255)``, computed in the input's float dtype like
    rPPG-Toolbox's ``np.round(frames * 255)`` (values outside [0, 1] are clipped)."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    y = np.multiply(x, x.dtype.type(255.0))
    np.rint(y, out=y)
    np.clip(y, 0, 255, out=y)
    return y.astype(np.uint8)


# --------------------------------------------------------------------------------------------------- MATLAB

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_mat73(path: str | Path) -> bool:
    """True when the file is HDF5-based (MATLAB v7.3): the HDF5 signature at offset 0 or 512, 1024, …"""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        for off in (0, 512, 1024, 2048):
            if off + 8 > size:
                break
            fh.seek(off)
            if fh.read(8) == _HDF5_SIGNATURE:
                return True
    return False


def load_mat_v5(path: str | Path, recording: str | None = None,
                variables: Iterable[str] | None = None, required: Iterable[str] = ()) -> dict[str, Any]:
    """Load a MATLAB v5/v7 file (only ``variables`` when given); raise naming the file when it is truncated,
    not a MAT file, HDF5-based, or lacks a ``required`` variable."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DataError("MATLAB file not found", path=path, recording=recording)
    if path.stat().st_size == 0:
        raise DataError("MATLAB file is empty (0 bytes)", path=path, recording=recording)
    if is_mat73(path):
        raise DataError("expected a MATLAB v5/v7 file but found v7.3 (HDF5)", path=path, recording=recording)
    names = None if variables is None else list(variables)
    try:
        mat = scipy.io.loadmat(str(path), variable_names=names)
    except Exception as exc:  # scipy raises ValueError/TypeError/OSError/zlib.error on truncated files
        raise DataError(f"cannot read MATLAB v5 file (truncated or corrupt?): {type(exc).__name__}: {exc}",
                        path=path, recording=recording) from exc
    missing = [v for v in required if v not in mat]
    if missing:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(f"missing MATLAB variable(s) {missing}; found {found}", path=path, recording=recording)
    return mat


def mat_shapes(path: str | Path, recording: str | None = None) -> dict[str, tuple[int, ...]]:
    """Variable name → shape of a MATLAB v5 file without loading the data (:func:`scipy.io.whosmat`)."""
    import scipy.io

    path = Path(path)
    try:
        return {name: tuple(shape) for name, shape, _ in scipy.io.whosmat(str(path))}
    except Exception as exc:  # truncated/corrupt files raise assorted errors inside scipy
        raise DataError(f"cannot list MATLAB v5 variables (truncated or corrupt?): {type(exc).__name__}: {exc}",
                        path=path, recording=recording) from exc


def mat_string(value: Any) -> str:
    """A MATLAB char array as loaded by scipy (``array(['LED-low'])``, ``array('x')``, bytes) → ``str``."""
    v = value
    while isinstance(v, np.ndarray):
        if v.dtype.kind in "US" and v.size >= 1:
            if v.size == 1:
                v = v.reshape(-1)[0]
                continue
            return "".join(str(x) for x in v.reshape(-1)).strip()
        if v.dtype == object and v.size == 1:
            v = v.reshape(-1)[0]
            continue
        if v.dtype.kind in "iu" and v.ndim >= 1:  # uint16 char codes (h5py view of a MATLAB char)
            return "".join(chr(int(c)) for c in v.reshape(-1, order="F")).strip()
        if v.size == 0:
            return ""
        break
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace").strip()
    return str(v).strip()


def mat_scalar(value: Any) -> float:
    """A MATLAB numeric scalar (``[[4]]``) → float; raises ValueError when it is not a single number."""
    arr = np.asarray(value)
    while arr.dtype == object and arr.size == 1:
        arr = np.asarray(arr.reshape(-1)[0])
    if arr.size != 1:
        raise ValueError(f"expected a single number, got shape {arr.shape}")
    return float(arr.reshape(-1)[0])


def h5_dataset(fh, name: str, path: Path, recording: str | None = None):
    """``fh[name]`` of an open :class:`h5py.File`, or a DataError listing the variables that exist."""
    if name not in fh:
        found = sorted(k for k in fh.keys() if not k.startswith("#"))
        raise DataError(f"missing MATLAB v7.3 variable {name!r}; found {found}", path=path, recording=recording)
    return fh[name]


def open_mat73(path: str | Path, recording: str | None = None):
    """Open a MATLAB v7.3 file with h5py (read-only) or raise naming the file."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataError("MATLAB file not found", path=path, recording=recording)
    if path.stat().st_size == 0:
        raise DataError("MATLAB file is empty (0 bytes)", path=path, recording=recording)
    if not is_mat73(path):
        raise DataError("expected a MATLAB v7.3 (HDF5) file; no HDF5 signature found (a v5 file, or truncated)",
                        path=path, recording=recording)
    try:
        return h5py.File(path, "r")
    except Exception as exc:
        raise DataError(f"cannot open MATLAB v7.3 file (truncated or corrupt?): {exc}", path=path,
                        recording=recording) from exc


# --------------------------------------------------------------------------------------------------- CSV / labels


def read_csv(path: str | Path, recording: str | None = None, *, header: bool = True,
             columns: Sequence[str] | None = None, names: Sequence[str] | None = None):
    """Read a CSV into a DataFrame; with ``columns`` the header (or ``names`` for a header-less file) must
    contain them (in any order)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError("ground-truth file not found", path=path, recording=recording)
    if path.stat().st_size == 0:
        raise DataError("CSV file is empty (0 bytes)", path=path, recording=recording)
    try:
        df = pd.read_csv(path, header=0 if header else None, skipinitialspace=True,
                         names=None if names is None else list(names))
    except Exception as exc:
        raise DataError(f"cannot parse CSV: {type(exc).__name__}: {exc}", path=path, recording=recording) from exc
    if columns is not None:
        have = [str(c).strip() for c in df.columns]
        df.columns = have
        missing = [c for c in columns if c not in have]
        if missing:
            raise DataError(f"CSV is missing column(s) {missing}; header has {have}", path=path, recording=recording)
    if len(df) == 0:
        raise DataError("CSV has a header but no data rows", path=path, recording=recording)
    return df


def check_label_values(values: Any, path: Path, recording: str | None, what: str = "PPG") -> np.ndarray:
    """float64 1-D label values; raise when empty or non-finite (naming the first bad sample)."""
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} values are not numeric: {exc}", path=path, recording=recording) from exc
    if arr.size == 0:
        raise DataError(f"{what} signal is empty", path=path, recording=recording)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise DataError(f"{what} signal has {bad.size} NaN/inf sample(s), first at index {int(bad[0])} "
                        f"(of {arr.size})", path=path, recording=recording)
    return arr


def check_length_ratio(n_label: float, n_video: float, path: Path, recording: str | None,
                       what: str = "label duration / video duration", tol: float = LENGTH_TOLERANCE) -> None:
    """Raise when two durations (or counts at the same rate) differ by more than ``tol`` relative."""
    if n_video <= 0:
        raise DataError(f"video has no frames; cannot compare {what}", path=path, recording=recording)
    ratio = float(n_label) / float(n_video)
    if abs(ratio - 1.0) > tol:
        raise DataError(f"{what} = {n_label:g} / {n_video:g} = {ratio:.3f}, outside 1 ± {tol:g}", path=path,
                        recording=recording)


def repair_timestamps(t: np.ndarray, path: Path, recording: str | None) -> np.ndarray:
    """Make a nearly-monotone timestamp vector strictly increasing.

    A run of repeated values ``t[i] == t[i+1] == … == t[j]`` is spread evenly between ``t[i]`` and the next
    distinct value (a run at the very end is spaced one median step apart). Decreasing timestamps raise DataError.
    """
    t = np.asarray(t, dtype=np.float64).copy()
    d = np.diff(t)
    if np.any(d < 0):
        i = int(np.flatnonzero(d < 0)[0])
        raise DataError(f"timestamps decrease at sample {i + 1} ({t[i]:.6f} -> {t[i + 1]:.6f})", path=path,
                        recording=recording)
    if np.all(d > 0):
        return t
    if not np.any(d > 0):
        raise DataError(f"all {t.size} timestamps are equal ({t[0]:g}): the file holds no frame clock", path=path,
                        recording=recording)
    step = float(np.median(d[d > 0]))
    n = t.size
    i = 0
    n_fixed = 0
    while i < n - 1:
        j = i
        while j + 1 < n and t[j + 1] == t[i]:
            j += 1
        if j > i:
            nxt = t[j + 1] if j + 1 < n else t[i] + step * (j - i + 1)
            t[i:j + 1] = t[i] + (nxt - t[i]) * np.arange(j - i + 1) / (j - i + 1)
            n_fixed += j - i
        i = j + 1
    logger.info("%s: spread %d duplicated timestamp(s) evenly to the next distinct value", path, n_fixed)
    return t


def check_frame_clock(t: np.ndarray, fps: float, path: Any, recording: str | None) -> None:
    """Raise unless the frame times ``t`` (seconds) are non-decreasing and imply a frame rate within
    :data:`FRAME_CLOCK_FACTOR` of the nominal ``fps`` (catches constant clocks and milliseconds)."""
    t = np.asarray(t, dtype=np.float64)
    if t.size < 2:
        return
    d = np.diff(t)
    if np.any(d < 0):
        i = int(np.flatnonzero(d < 0)[0])
        raise DataError(f"frame timestamps decrease at frame {i + 1} ({t[i]:.6f} -> {t[i + 1]:.6f} s)", path=path,
                        recording=recording)
    med = float(np.median(d))
    if med <= 0:
        raise DataError(f"frame timestamps do not advance (median interval 0 s over {t.size} frames); expected "
                        f"about {1.0 / fps:.4g} s per frame at the nominal {fps:g} fps", path=path,
                        recording=recording)
    measured = 1.0 / med
    if not (fps / FRAME_CLOCK_FACTOR <= measured <= fps * FRAME_CLOCK_FACTOR):
        unit = " (timestamps in milliseconds?)" if 500 < fps / measured < 2000 else ""
        raise DataError(f"frame timestamps imply {measured:.4g} fps (median interval {med:.6g} s) but the nominal "
                        f"rate is {fps:g} fps{unit}; expected within a factor {FRAME_CLOCK_FACTOR:g}", path=path,
                        recording=recording)
