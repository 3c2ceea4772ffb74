"""Pulse from a user's own video, no ground truth needed (the engine behind ``rppgbench infer``).

Steps: decode the video (OpenCV), track the face and crop every frame to the model's ``frame_size``
(:class:`rppgbench.preprocess.face.track.FaceTracker`, Haar cascade by default; unsupervised methods get
72x72 crops), convert the crops to the model's input view(s) with whole-video statistics (the same definitions
as a prepared store, :mod:`rppgbench.store.views`; several views are concatenated on the channel axis), predict
the BVP (a neural model clip by clip with :func:`~rppgbench.training.predict.predict_array`, tail included, each
batch laid out for the model's ``layout``; an unsupervised method on the whole crop sequence), integrate it
(cumulative sum) when the model was trained on ``diffnormalized`` labels (its output is a pulse derivative,
whose second harmonic is twice as strong; the evaluation and rPPG-Toolbox integrate too), band-pass it
(2nd-order Butterworth 0.6-3.3 Hz, zero phase) and estimate the heart rate per window and over the whole video
from the periodogram peak (0.5 bpm zero-padded resolution).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rppgbench._checks import DataError, check_range
from rppgbench._logging import logger
from rppgbench._util import atomic_write, atomic_write_text

__all__ = ["InferenceResult", "infer_video", "write_outputs", "plot_inference", "UNSUPERVISED_CROP"]

#: crop side used for unsupervised methods (they average the skin pixels; the size barely matters)
UNSUPERVISED_CROP = 72
HR_BAND = (0.6, 3.3)


@dataclass
class InferenceResult:
    """What :func:`infer_video` found. ``windows`` rows are ``(start_s, stop_s, hr_bpm)``."""

    video: str
    model: str
    fps: float
    times: np.ndarray
    bvp: np.ndarray
    hr_bpm: float
    windows: list[tuple[float, float, float]]
    window_s: float
    face: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    crop: dict[str, Any] = field(default_factory=dict)  # detector and FaceTracker options the crops were made with


#: recipe fields that :class:`~rppgbench.preprocess.face.track.FaceTracker` takes as they are
_TRACKER_FIELDS = ("detect_every", "smoothing", "smoothing_param", "median_box", "enlarge", "square", "size",
                   "interpolation", "no_face")


def _card_recipe(card: dict[str, Any], cfg: Any) -> dict[str, Any]:
    """The recipe a run's model was trained on (the one of its frame size when its datasets differ)."""
    recipes = [r for r in card["recipes"].values() if isinstance(r, dict)]
    same = [r for r in recipes if r.get("size") == getattr(cfg, "frame_size", None)]
    return (same or recipes or [{}])[0]


def _load_model(model: Any, checkpoint: str | None, random_weights: bool = False
                ) -> tuple[Any, Any, dict[str, Any] | None]:
    card = None
    if isinstance(model, str):
        from rppgbench.models import create_model, model_cfg
        from rppgbench.models._factory import fold_model_id

        overrides: dict[str, Any] = {}
        if checkpoint is not None:
            from rppgbench.training.run_card import read_run_card

            card = read_run_card(checkpoint)
            if card is not None:
                if fold_model_id(card["model"]) != fold_model_id(model):
                    raise ValueError(f"--model {model} but checkpoint {checkpoint} was trained as model "
                                     f"{card['model']} (its model.json); give --model {card['model']} or leave "
                                     "--model out")
                model, overrides = card["model"], dict(card["overrides"])
        elif model_cfg(model).kind == "neural" and not random_weights:
            raise ValueError(f"model {model_cfg(model).name} is a neural network and no --checkpoint was given: it "
                             "would run with random weights and print a meaningless heart rate. Give --checkpoint "
                             f"FILE (a run writes checkpoints/<model>/model.pt), or --random-weights to run it "
                             "untrained on purpose (a pipeline check)")
        model = create_model(model, checkpoint=checkpoint, **overrides)
    elif checkpoint is not None:
        from rppgbench.models._checkpoint import load_checkpoint

        load_checkpoint(model, checkpoint)
    cfg = getattr(model, "cfg", None)
    if cfg is None:
        raise ValueError(f"model {model!r} has no .cfg (ModelCfg); build it with rppgbench.models.create_model")
    return model, cfg, card


def _hr(x: np.ndarray, fs: float) -> float:
    from rppgbench.signal.hr import nfft_for_resolution, periodogram_hr

    return float(periodogram_hr(x, fs, *HR_BAND, nfft=nfft_for_resolution(len(x), fs, 0.5)).hr)


def infer_video(video: str | os.PathLike, model: Any, *, checkpoint: str | None = None, window_s: float = 10.0,
                detector: str | None = None, detect_every: int | None = None, fps: float | None = None,
                device: str | None = None, batch_size: int = 4, random_weights: bool = False) -> InferenceResult:
    """Estimate the BVP and heart rate of the face in ``video``.

    Parameters
    ----------
    video : path
    model : str or model object
        A registered name (neural or unsupervised) or a model built by ``create_model`` (with ``.cfg``).
    checkpoint : path, optional
        Weights for a neural model (``torch.load(weights_only=True)``, strict keys). When a run wrote it, its
        ``model.json`` (:mod:`rppgbench.training.run_card`) gives the model's overrides and the recipe's crop
        (size, enlargement, detector, detection interval), so the video is cropped as the training data was.
        A neural model named without a checkpoint is refused unless ``random_weights``.
    window_s : float
        Length of the non-overlapping HR windows in seconds (a last window shorter than half of it is
        merged into the previous one; it is never dropped).
    detector, detect_every
        Face detector registered in ``rppgbench.preprocess.face`` and how often it runs (frames); default the
        checkpoint's recipe, else ``haar`` every 30 frames.
    fps : float, optional
        Frame rate; default the container's. A neural model trained at another rate gets a warning (the
        video is not resampled).
    device : str, optional
        torch device of a neural model; default CUDA when torch sees a GPU, else CPU (as ``rppgbench run``).
    """
    from rppgbench.datasets._io import iter_video, video_fps
    from rppgbench.preprocess.face import make_detector
    from rppgbench.preprocess.face.track import FaceTracker
    from rppgbench.signal.filters import bandpass
    from rppgbench.store.views import frames_view, recording_stats

    check_range("window_s", float(window_s), 1.0, None)
    path = Path(video)
    model, cfg, card = _load_model(model, checkpoint, random_weights)
    warnings: list[str] = []
    if random_weights and checkpoint is None and cfg.kind == "neural":
        warnings.append(f"model {cfg.name} runs with random weights (--random-weights): its heart rates mean nothing")
    if fps is None:
        fps = video_fps(path)
        if fps is None:
            raise DataError("the container has no frame rate; pass fps (--fps)", path=path)
    fps = float(fps)
    neural = cfg.kind == "neural"
    size = int(cfg.frame_size) if neural and cfg.frame_size else UNSUPERVISED_CROP
    crop_opts: dict[str, Any] = {"detect_every": 30}
    if card is not None:
        rec = _card_recipe(card, cfg)
        crop_opts.update({k: rec[k] for k in _TRACKER_FIELDS if k in rec})
        detector = detector or rec.get("detector")
        if crop_opts.get("size", size) != size:
            warnings.append(f"checkpoint's recipe crops {crop_opts['size']} px but model {cfg.name} takes {size} px; "
                            f"using {size}")
    crop_opts["size"] = size
    if detect_every is not None:
        crop_opts["detect_every"] = int(detect_every)
    detector = detector or "haar"
    tracker = FaceTracker(make_detector(detector), recording=path.name, **crop_opts)
    crop = tracker.run(iter_video(path), reopen=lambda: iter_video(path))
    frames = crop.frames  # uint8 (T, size, size, 3)
    n = len(frames)
    logger.info("%s: %d frames at %.3g fps, face crops %dx%d by %s (qc %s)", path.name, n, fps, size, size, detector,
                crop.qc)
    if neural:
        if abs(fps - float(cfg.fps)) > 0.5:
            warnings.append(f"video is {fps:.3g} fps but model {cfg.name} was trained at {cfg.fps:.3g} fps; "
                            f"the video is not resampled, so its heart rates may be off")
        if cfg.clip_len is not None and n < cfg.clip_len:
            raise DataError(f"video has {n} frames, fewer than model {cfg.name}'s clip_len={cfg.clip_len}", path=path)
        from rppgbench.training.predict import predict_array
        from rppgbench.training.trainer import resolve_device

        stats = recording_stats(frames, np.zeros(n, np.float32))
        x = frames_view(frames, cfg.input_view, stats, n).transpose(3, 0, 1, 2)
        bvp = predict_array(model, cfg, x, device=resolve_device(device), batch_size=batch_size,
                            recording=path.name)
        if cfg.label_view == "diffnormalized":  # trained on frame differences: integrate, as the evaluation does
            bvp = np.cumsum(bvp)
    else:
        bvp = np.asarray(model.predict(frames, fps), dtype=np.float64)
    if bvp.shape != (n,):
        raise DataError(f"model {cfg.name} returned {bvp.shape} samples for {n} frames", path=path)
    bvp = bandpass(bvp - bvp.mean(), fps, *HR_BAND, order=2) if n > 15 else bvp - bvp.mean()
    w = max(1, int(round(window_s * fps)))
    bounds = [(s, min(s + w, n)) for s in range(0, n, w)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < w / 2:
        last = bounds.pop()
        bounds[-1] = (bounds[-1][0], last[1])
    windows = [(a / fps, b / fps, _hr(bvp[a:b], fps)) for a, b in bounds]
    return InferenceResult(video=str(path), model=cfg.name, fps=fps, times=np.arange(n) / fps, bvp=bvp,
                           hr_bpm=_hr(bvp, fps), windows=windows, window_s=float(window_s), face=dict(crop.qc),
                           warnings=warnings, crop={"detector": detector, **crop_opts})


def write_outputs(result: InferenceResult, out_dir: str | os.PathLike, plot: bool = True) -> dict[str, Path]:
    """Write ``bvp.csv`` (time_s, bvp), ``hr.csv`` (start_s, stop_s, hr_bpm; last row the whole video) and
    ``plot.png`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"bvp": out / "bvp.csv", "hr": out / "hr.csv"}
    samples = zip(result.times, result.bvp, strict=True)
    atomic_write_text(paths["bvp"], "time_s,bvp\n" + "".join(f"{t:.6f},{v:.8g}\n" for t, v in samples))
    rows = [f"{a:.3f},{b:.3f},{h:.2f}\n" for a, b, h in result.windows]
    rows.append(f"0.000,{result.times[-1] + 1 / result.fps:.3f},{result.hr_bpm:.2f}\n")
    atomic_write_text(paths["hr"], "start_s,stop_s,hr_bpm\n" + "".join(rows))
    if plot:
        paths["plot"] = plot_inference(result, out / "plot.png")
    return paths


def plot_inference(result: InferenceResult, path: str | os.PathLike) -> Path:
    """Waveform (top) and its spectrum in bpm with the HR band and the estimate (bottom), as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from rppgbench.signal.hr import next_pow2, psd

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), constrained_layout=True)
    ax1.plot(result.times, result.bvp, lw=0.8)
    for a, b, h in result.windows:
        ax1.axvspan(a, b, alpha=0.06, color="k" if int(a / max(result.window_s, 1e-9)) % 2 else "w")
        ax1.text((a + b) / 2, 1.0, f"{h:.0f}", transform=ax1.get_xaxis_transform(), ha="center", va="top",
                 fontsize=8)
    ax1.set(xlabel="time (s)", ylabel="BVP (a.u.)", title=f"{Path(result.video).name}: {result.model}")
    f, p = psd(result.bvp, result.fps, max(next_pow2(len(result.bvp)), 4096))
    bpm = f * 60
    sel = bpm <= 240
    ax2.plot(bpm[sel], p[sel], lw=0.9)
    ax2.axvspan(HR_BAND[0] * 60, HR_BAND[1] * 60, alpha=0.08, color="g")
    ax2.axvline(result.hr_bpm, color="r", ls="--", lw=1)
    ax2.set(xlabel="frequency (bpm)", ylabel="power", title=f"HR {result.hr_bpm:.1f} bpm")
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100))
    finally:
        plt.close(fig)
