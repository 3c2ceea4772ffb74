"""Write synthetic recordings to disk in the dataset's own raw layout (read back by ``SyntheticAdapter``).

Layout::

    <root>/manifest.csv                 one row per recording (see MANIFEST_COLUMNS)
    <root>/<recording_id>/video.avi     lossless HuffYUV AVI (RGB frames, stored BGR as OpenCV does)
    <root>/<recording_id>/ppg.csv       header "time_s,ppg"; label rate (60 Hz), its own timestamps
    <root>/<recording_id>/frames.csv    header "time_s"; one timestamp per video frame
    <root>/<recording_id>/meta.json     all generator parameters, true mean HR, preset, seed

Numbers in the CSV files are written with Python's shortest round-trip ``repr``, so they read back exactly.

Codec choice (measured with ``opencv-python-headless`` 4.14 on 640x480 rendered frames, see ``docs/synthetic.md``):
HuffYUV (``HFYU``), FFV1 (``.avi``/``.mkv``), PNG-in-AVI (``MPNG``) and raw ``RGBA`` all read back bit-exactly;
``DIB `` cannot be written. Matroska (``.mkv``) output is not byte-reproducible (the muxer writes a random segment
UID), so every codec is stored in AVI. HuffYUV writes fastest among the compressed ones (~6-10 ms per frame vs
~20-27 ms for FFV1 and >100 ms for MPNG) at ~1/3 of the raw size, so it is the default; FFV1 is ~20 % smaller and
can be chosen with ``codec="FFV1"``.

Writing is atomic: everything goes to a hidden temporary folder next to ``out_dir`` that is renamed into place
at the end, so an interrupted run never leaves a folder that looks complete.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rppgbench._checks import DataError, check_option, check_range
from rppgbench._logging import logger
from rppgbench._progress import Progress
from rppgbench._util import atomic_dir
from rppgbench.datasets.synthetic.presets import MIXED_CYCLE, PRESET_NAMES, make_spec
from rppgbench.datasets.synthetic.render import Rendered, render_recording

__all__ = ["write_raw_dataset", "write_recording", "MANIFEST_COLUMNS", "VIDEO_CODECS", "RECORDING_ID_RE",
           "recording_id"]

MANIFEST_COLUMNS = ("recording_id", "subject", "session", "preset", "seed", "mean_hr_bpm", "n_frames", "fps",
                    "width", "height", "fitzpatrick")
#: the header written before the ``fitzpatrick`` column existed (still read)
MANIFEST_COLUMNS_V1 = MANIFEST_COLUMNS[:-1]
#: fourcc -> file extension; all verified to round-trip bit-exactly through OpenCV's FFmpeg backend and to give
#: byte-identical files for identical frames
VIDEO_CODECS: dict[str, str] = {"HFYU": "avi", "FFV1": "avi", "MPNG": "avi", "RGBA": "avi"}
RECORDING_ID_RE = re.compile(r"^s(\d{2,})_r(\d{2,})$")


def recording_id(subject: int, index: int) -> str:
    """``s01_r00``: subject 1, its recording 0."""
    return f"s{subject:02d}_r{index:02d}"


def _fmt(x: float) -> str:
    return repr(float(x))


def write_recording(rendered: Rendered, rec_dir: str | Path, *, codec: str = "HFYU",
                    extra_meta: dict[str, Any] | None = None) -> Path:
    """Write one rendered recording into ``rec_dir`` (created); returns the video path."""
    check_option("codec", codec, VIDEO_CODECS)
    rec_dir = Path(rec_dir)
    rec_dir.mkdir(parents=True, exist_ok=True)
    spec = rendered.spec
    video = rec_dir / f"video.{VIDEO_CODECS[codec]}"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*codec), float(spec.fps), (spec.width, spec.height))
    if not writer.isOpened():
        raise DataError(f"OpenCV cannot open a {codec} video writer here", path=video)
    n = 0
    try:
        for frame in rendered.iter_frames():
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            n += 1
    finally:
        writer.release()
    if n != rendered.n_frames:  # pragma: no cover - the renderer yields exactly n_frames
        raise DataError(f"wrote {n} frames, expected {rendered.n_frames}", path=video)
    with open(rec_dir / "ppg.csv", "w", newline="\n") as fh:
        fh.write("time_s,ppg\n")
        fh.writelines(f"{_fmt(t)},{_fmt(v)}\n" for t, v in zip(rendered.ppg_times, rendered.ppg, strict=True))
    with open(rec_dir / "frames.csv", "w", newline="\n") as fh:
        fh.write("time_s\n")
        fh.writelines(f"{_fmt(t)}\n" for t in rendered.frame_times)
    meta = dict(rendered.metadata)
    meta.update(video_codec=codec, video_file=video.name, label_file="ppg.csv", frames_file="frames.csv")
    meta.update(extra_meta or {})
    with open(rec_dir / "meta.json", "w", newline="\n") as fh:
        json.dump(meta, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return video


def _is_previous_output(path: Path) -> bool:
    """True when ``path`` holds only what :func:`write_raw_dataset` writes (manifest + recording folders)."""
    manifest = path / "manifest.csv"
    if not manifest.is_file():
        return False
    with open(manifest, newline="") as fh:
        header = fh.readline().strip()
    if header not in (",".join(MANIFEST_COLUMNS), ",".join(MANIFEST_COLUMNS_V1)):
        return False
    return all(p.name == "manifest.csv" or (p.is_dir() and RECORDING_ID_RE.match(p.name)) for p in path.iterdir())


def write_raw_dataset(out_dir: str | Path, recordings: int = 6, seconds: float = 30, preset: str = "mixed",
                      seed: int = 0, fps: float = 30, width: int = 640, height: int = 480, *,
                      recordings_per_subject: int = 2, codec: str = "HFYU", skin_types: Any = None,
                      **overrides: Any) -> Path:
    """Render and write a raw synthetic dataset to ``out_dir``; returns ``out_dir``.

    Recording ``i`` belongs to subject ``i // recordings_per_subject + 1``. A subject keeps its skin type
    (Fitzpatrick I-VI) and a base heart rate across its recordings; each recording gets its own seed, heart rate
    (subject base +- 8 bpm) and, with ``preset="mixed"``, the preset ``MIXED_CYCLE[i % 4]``.

    ``skin_types`` (a subset of 1-6, e.g. ``(5, 6)``): subject ``s`` gets ``skin_types[(s - 1) % len]`` (a
    balanced fairness set); by default each subject's type is drawn from 1-6 by the seed. The manifest records
    every recording's type (column ``fitzpatrick``).

    ``out_dir`` must be absent, empty, or a previous output of this function (which is then replaced);
    anything else raises :class:`~rppgbench._checks.DataError`. ``overrides`` go to :func:`make_spec`.
    """
    check_option("preset", preset, PRESET_NAMES)
    check_option("codec", codec, VIDEO_CODECS)
    if not isinstance(recordings, (int, np.integer)) or recordings < 1:
        raise ValueError(f"recordings must be an int >= 1; got {recordings!r}")
    if not isinstance(recordings_per_subject, (int, np.integer)) or recordings_per_subject < 1:
        raise ValueError(f"recordings_per_subject must be an int >= 1; got {recordings_per_subject!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    check_range("seconds", float(seconds), 1.0, 3600.0)
    if skin_types is not None:
        types = [int(v) for v in skin_types]
        if not types or any(v not in range(1, 7) for v in types) or len(set(types)) != len(types):
            raise ValueError(f"skin_types must be distinct Fitzpatrick types 1-6; got {list(skin_types)!r}")
        if "fitzpatrick" in overrides:
            raise ValueError("give either skin_types or fitzpatrick, not both")
    out = Path(out_dir).expanduser()
    if out.exists():
        if not out.is_dir():
            raise DataError("output path exists and is not a folder", path=out)
        if any(out.iterdir()) and not _is_previous_output(out):
            raise DataError("output folder is not empty and is not a previous synthetic dataset "
                            "(expected only manifest.csv and sNN_rNN folders); refusing to write into it", path=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fixed_hr = overrides.pop("hr_bpm", None)
    bar = Progress("generate", int(recordings), label=out.name, unit="recordings")
    with atomic_dir(out) as tmp:
        rows = []
        subject_traits: dict[int, tuple[float, int]] = {}
        for i in range(int(recordings)):
            subject, k = i // recordings_per_subject + 1, i % recordings_per_subject
            if subject not in subject_traits:
                srng = np.random.default_rng([int(seed), 11, subject])
                subject_traits[subject] = (float(srng.uniform(58.0, 100.0)), int(srng.integers(1, 7)))
            base_hr, tone = subject_traits[subject]
            if skin_types is not None:
                tone = types[(subject - 1) % len(types)]
            rrng = np.random.default_rng([int(seed), 13, i])
            hr = float(np.clip(base_hr + rrng.uniform(-8.0, 8.0), 50.0, 120.0)) if fixed_hr is None else fixed_hr
            rec_seed = int(seed) * 1000 + i
            rec_preset = MIXED_CYCLE[i % len(MIXED_CYCLE)] if preset == "mixed" else preset
            params = dict(fitzpatrick=tone)
            params.update(overrides)
            spec = make_spec(rec_preset, seed=rec_seed, seconds=seconds, fps=fps, width=width, height=height,
                             hr_bpm=hr, **params)
            rid = recording_id(subject, k)
            rendered = render_recording(spec)
            write_recording(rendered, tmp / rid, codec=codec,
                            extra_meta=dict(recording_id=rid, subject=f"{subject:02d}", session=f"{k:02d}",
                                            dataset_seed=int(seed), requested_preset=preset))
            bar.update(i + 1)
            rows.append(dict(recording_id=rid, subject=f"{subject:02d}", session=f"{k:02d}", preset=spec.preset,
                             seed=rec_seed, mean_hr_bpm=f"{rendered.mean_hr_bpm:.4f}", n_frames=rendered.n_frames,
                             fps=_fmt(spec.fps), width=spec.width, height=spec.height, fitzpatrick=spec.fitzpatrick))
            logger.info("synthetic %s: preset %s, mean HR %.2f bpm, %d frames", rid, spec.preset,
                        rendered.mean_hr_bpm, rendered.n_frames)
        with open(tmp / "manifest.csv", "w", newline="") as fh:
            wr = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
            wr.writeheader()
            wr.writerows(rows)
    return out
