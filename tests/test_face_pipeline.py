"""Face detectors, box tracking, no-face policies and label alignment."""
from __future__ import annotations

import numpy as np
import pytest

from rppgbench._checks import DataError, RppgbenchError
from rppgbench.datasets.base import LabelTrack
from rppgbench.preprocess.align import align_label
from rppgbench.preprocess.face import FACE_DETECTORS, FaceDetector, make_detector
from rppgbench.preprocess.face.landmarks import FaceAlignmentDetector, landmarks_to_box
from rppgbench.preprocess.face.track import BOX_SOURCES, FaceTracker, crop_box, crop_resize


def _iou(a, b):
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter)


def test_haar_finds_the_astronaut_face():
    from skimage.data import astronaut

    img = astronaut()
    det = make_detector("haar")
    box = det.detect_one(img)
    # Eileen Collins' face in skimage's astronaut image: about x 170-275, y 60-165
    assert box is not None and _iou(box, (172, 62, 100, 100)) > 0.6
    # no face in a flat image
    assert det.detect(np.full((240, 320, 3), 128, np.uint8)) == []
    # a downscaled search finds the same face
    small = make_detector("haar", max_side=384).detect_one(img)
    assert small is not None and _iou(small, box) > 0.6
    assert FACE_DETECTORS.names() == ["blazeface", "face_alignment", "haar", "mediapipe"]


def test_crop_box_centre_square_and_clamping():
    # centre kept, side = max(w, h) * 1.5
    assert crop_box((100, 100, 40, 60), 640, 480, 1.5) == (75, 85, 90, 90)
    # near the left/top border the square is shifted inside, not cut
    assert crop_box((0, 0, 40, 40), 640, 480, 1.5) == (0, 0, 60, 60)
    # near the right/bottom border likewise
    assert crop_box((620, 460, 40, 40), 640, 480, 1.5) == (580, 420, 60, 60)
    # a box larger than the frame is capped at the shorter side
    assert crop_box((100, 50, 400, 400), 640, 480, 1.5) == (60, 0, 480, 480)
    # not square: each side enlarged
    assert crop_box((100, 100, 40, 60), 640, 480, 1.5, square=False) == (90, 85, 60, 90)
    f = np.arange(480 * 640 * 3, dtype=np.uint32).reshape(480, 640, 3).astype(np.uint8)
    out = crop_resize(f, (10, 20, 72, 72), 72)
    assert np.array_equal(out, f[20:92, 10:82])


class Scripted(FaceDetector):
    """Stand-in detector: returns ``boxes[i]`` for the frame whose pixel value is ``i``."""

    name = "scripted"

    def __init__(self, boxes):
        self.boxes = boxes
        self.calls = []

    def detect(self, frame):
        i = int(frame[0, 0, 0])
        self.calls.append(i)
        b = self.boxes.get(i)
        return [] if b is None else [b]


def _frames(n, h=120, w=160):
    # frame i is filled with value i (so crops reveal which frame they came from)
    return [np.full((h, w, 3), i, np.uint8) for i in range(n)]


def test_tracker_schedule_and_holding():
    det = Scripted({0: (40, 30, 40, 40), 4: (50, 30, 40, 40), 8: (60, 30, 40, 40)})
    res = FaceTracker(det, detect_every=4, size=16).run(iter(_frames(10)))
    assert det.calls == [0, 4, 8]
    assert res.frames.shape == (10, 16, 16, 3) and res.frames.dtype == np.uint8
    assert [int(f[0, 0, 0]) for f in res.frames] == list(range(10))
    assert [BOX_SOURCES[s] for s in res.sources[:5]] == ["detected", "held", "held", "held", "detected"]
    assert tuple(res.boxes[3]) == crop_box((40, 30, 40, 40), 160, 120) and tuple(res.boxes[5]) == crop_box(
        (50, 30, 40, 40), 160, 120)
    assert res.qc["detector_hit_rate"] == 1.0 and res.qc["frames_detected"] == 3 and res.qc["frames_held"] == 7


def test_no_face_fail_names_recording_and_frame():
    det = Scripted({0: (40, 30, 40, 40)})
    with pytest.raises(DataError, match=r"recording r7: no face detected in frame 4 \(policy no_face='fail'\)"):
        FaceTracker(det, detect_every=4, size=16, no_face="fail", recording="r7").run(iter(_frames(10)))


@pytest.mark.parametrize("use_reopen", [True, False])
def test_no_face_carry_back_and_forward(use_reopen):
    frames = _frames(12)
    det = Scripted({2: (40, 30, 40, 40), 4: (60, 40, 40, 40)})
    tr = FaceTracker(det, detect_every=4, size=16, no_face="carry")
    res = tr.run(iter(frames), reopen=(lambda: iter(frames)) if use_reopen else None)
    # frames 0, 1 fail; retried every frame until frame 2 succeeds; 4 detects; 8 fails -> carried
    assert det.calls == [0, 1, 2, 4, 8]
    names = [BOX_SOURCES[s] for s in res.sources]
    assert names == ["carried_back"] * 2 + ["detected", "held", "detected"] + ["held"] * 3 + ["carried"] * 4
    b2 = crop_box((40, 30, 40, 40), 160, 120)
    b4 = crop_box((60, 40, 40, 40), 160, 120)
    assert [tuple(b) for b in res.boxes[:4]] == [b2] * 4 and all(tuple(b) == b4 for b in res.boxes[4:])
    assert [int(f[0, 0, 0]) for f in res.frames] == list(range(12))  # carried-back crops from their own frames
    assert res.qc["ranges_carried_back"] == [[0, 2]] and res.qc["ranges_carried"] == [[8, 12]]
    assert res.qc["detector_attempts"] == 5 and res.qc["detector_hits"] == 2
    assert res.qc["frames_carried"] == 4 and res.qc["frames_carried_back"] == 2


def test_no_face_whole_and_never_found():
    det = Scripted({4: (40, 30, 40, 40)})
    res = FaceTracker(det, detect_every=4, size=16, no_face="whole").run(iter(_frames(10)))
    assert [BOX_SOURCES[s] for s in res.sources[:5]] == ["whole"] * 4 + ["detected"]
    assert all(tuple(b) == (0, 0, 160, 120) for b in res.boxes[:4])
    assert res.qc["ranges_whole"] == [[0, 4], [8, 10]] and res.qc["frames_whole"] == 6  # frame 8 fails again
    with pytest.raises(DataError, match="no face detected: .* in any of the 6 frames, which all decoded without error"):
        FaceTracker(Scripted({}), detect_every=4, size=16, no_face="carry", recording="x").run(iter(_frames(6)))


def test_median_box_and_smoothing():
    frames = _frames(9)
    det = Scripted({0: (40, 30, 40, 40), 3: (50, 30, 40, 40), 6: (90, 30, 40, 40)})
    res = FaceTracker(det, detect_every=3, size=16, median_box=True).run(iter(frames), reopen=lambda: iter(frames))
    assert np.all(res.boxes == np.array(crop_box((50, 30, 40, 40), 160, 120)))
    assert set(res.sources) == {BOX_SOURCES.index("median")}
    det = Scripted({0: (40, 30, 40, 40), 3: (80, 30, 40, 40)})
    res = FaceTracker(det, detect_every=3, size=16, smoothing="ema", smoothing_param=0.25).run(iter(frames[:6]))
    assert tuple(res.boxes[3]) == crop_box((0.25 * 80 + 0.75 * 40, 30, 40, 40), 160, 120)


def test_face_alignment_glue_with_stand_in_network():
    class FakeNet:
        def __init__(self):
            self.seen = None

        def get_landmarks_from_image(self, img):
            self.seen = img.shape
            pts1 = np.array([[10.2, 20.0], [50.0, 25.5], [30.0, 70.9]])
            pts2 = np.array([[100.0, 10.0], [220.0, 150.0]])
            return [pts1, pts2]

    net = FakeNet()
    det = FaceAlignmentDetector(network=net)
    frame = np.zeros((240, 320, 3), np.uint8)
    assert det.detect(frame) == [(10, 20, 40, 51), (100, 10, 120, 140)]
    assert det.detect_one(frame) == (100, 10, 120, 140) and net.seen == (240, 320, 3)
    assert landmarks_to_box(np.array([[1.0, 2.0], [3.0, 4.0]])) == (1, 2, 2, 2)

    class NoFace:
        def get_landmarks_from_image(self, img):
            return None

    assert FaceAlignmentDetector(network=NoFace()).detect(frame) == []
    with pytest.raises(TypeError, match="get_landmarks_from_image"):
        FaceAlignmentDetector(network=object())


def test_optional_detectors_explain_what_is_missing(monkeypatch, tmp_path):
    import importlib.util

    if importlib.util.find_spec("mediapipe") is None:
        with pytest.raises(RppgbenchError, match=r"pip install rppgbench\[mediapipe\]"):
            make_detector("mediapipe")
    if importlib.util.find_spec("face_alignment") is None:
        with pytest.raises(RppgbenchError, match=r"pip install rppgbench\[landmarks\]"):
            make_detector("face_alignment")
    else:  # installed but no weights offline
        monkeypatch.setenv("TORCH_HOME", str(tmp_path))
        with pytest.raises(RppgbenchError, match="cannot work offline"):
            make_detector("face_alignment")


# -- label alignment ---------------------------------------------------------------------------------
def test_align_time_equals_interp_and_counts_coverage():
    ft = np.arange(90) / 30.0
    lt = np.arange(0.2, 3.0, 1 / 64.0)
    lv = np.sin(2 * np.pi * 1.3 * lt)
    y, qc = align_label(LabelTrack(lv, lt, 64.0, extra={"sq": np.ones_like(lv) * 2}), ft, "time")
    assert np.array_equal(y, np.interp(ft, lt, lv))
    outside = int(np.sum((ft < lt[0]) | (ft > lt[-1])))
    assert outside == 6 and qc["frames_outside_label"] == outside
    assert qc["label_coverage"] == pytest.approx(1 - outside / 90)
    assert qc["label_time_base"] == "file" and np.array_equal(qc["extra"]["sq"], np.full(90, 2.0))
    assert qc["label_duration_ratio"] == pytest.approx((lt[-1] - lt[0] + 1 / 64) / 3.0)


def test_align_assumed_and_index_methods():
    ft = np.arange(60) / 30.0
    lv = np.cos(np.linspace(0, 7, 120))
    y, qc = align_label(LabelTrack(lv, None, 60.0), ft, "time")
    assert qc["label_time_base"] == "assumed"
    assert np.allclose(y, np.interp(ft, np.linspace(ft[0], ft[-1], 120), lv))
    y2, qc2 = align_label(LabelTrack(lv, None, 60.0), ft, "index")
    ref = np.interp(np.linspace(1, 120, 60), np.arange(1, 121), lv)  # rPPG-Toolbox resample_ppg
    assert np.array_equal(y2, ref) and qc2["label_time_base"] == "index"
    assert qc2["label_duration_ratio"] == pytest.approx(1.0)


def test_align_qc_and_errors():
    ft = np.arange(100) / 30.0
    ft = np.delete(ft, [40, 41])  # two dropped frames -> one long interval
    lt = np.repeat(np.arange(200) / 60.0, 1)
    lt = np.insert(lt, 10, lt[10])  # a repeated timestamp
    lv = np.sin(lt)
    y, qc = align_label(LabelTrack(lv, lt), ft, "time")
    assert qc["dropped_frames"] == 1 and qc["label_duplicate_timestamps"] == 1
    d = np.diff(ft)
    assert qc["frame_jitter"] == pytest.approx(np.std(d) / np.median(d))
    with pytest.raises(DataError, match=r"recording r1: lab.txt: label holds 1 NaN/inf value\(s\), first at sample 3"):
        align_label(LabelTrack(np.array([0, 1, 2, np.nan, 4.0])), ft, recording="r1", path="lab.txt")
    with pytest.raises(DataError, match=r"recording r2: label lasts 0\.500× the video"):
        align_label(LabelTrack(np.zeros(100), np.arange(100) / 60.0), np.arange(100) / 30.0, tolerance=0.05,
                    recording="r2")
    with pytest.raises(DataError, match="label timestamps decrease at sample 2"):
        align_label(LabelTrack(np.zeros(3), np.array([0.0, 0.2, 0.1])), ft)
