"""Store round trip on toy recordings: arrays, attributes, views equal to the reference formulas."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from _store_toy import FPS, ToyAdapter, write_toy_raw

from rppgbench._checks import DataError, RecipeMismatchError
from rppgbench.preprocess.recipe import Recipe
from rppgbench.store import open_store, prepare, store_path
from rppgbench.store.layout import store_key


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    raw = root / "raw"
    ids = write_toy_raw(raw, n_recordings=2, n_frames=75)
    summary = prepare(ToyAdapter(), raw, recipe="fp72", out=root / "store.zarr", workers=0)
    return raw, root / "store.zarr", ids, summary


def _decode(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    return np.stack(out)


def test_summary_and_listing(toy):
    raw, path, ids, summary = toy
    assert summary.ok and summary.written == ids and summary.frames == 150 and not summary.failed
    st = open_store(path)
    assert st.recording_ids() == ids
    df = st.recordings()
    assert list(df.recording_id) == ids
    assert list(df.subject) == ["1", "2"] and list(df.session) == ["a", "a"]
    assert list(df.n_frames) == [75, 75] and list(df.fps) == [FPS, FPS]
    assert np.allclose(df.duration_s, 75 / FPS)
    assert list(df.hr_bpm) == [60.0, 72.0]  # metadata column
    assert list(df.qc_detector_hit_rate) == [1.0, 1.0]
    assert list(df.qc_frames_detected) == [3, 3] and list(df.qc_frames_held) == [72, 72]
    assert st.missing() == {}


def test_store_attributes(toy):
    raw, path, ids, _ = toy
    st = open_store(path)
    r = Recipe.named("fp72").for_dataset("toy")
    assert st.recipe_id == r.recipe_id and st.recipe == r.replace(name="fp72")
    assert st.attrs["recipe_json"] == r.canonical_json()
    assert st.dataset == "toy" and st.attrs["format_version"] == 1
    assert {"python", "numpy", "zarr"} <= set(st.attrs["package_versions"])
    # documented layout is plain Zarr v3 JSON, readable without rppgbench
    meta = json.loads((path / "recordings" / ids[0] / "zarr.json").read_text())
    a = meta["attributes"]["rppgbench"]
    assert a["complete"] is True and a["subject"] == "1"
    import hashlib

    for rel, digest in a["source_files"].items():
        assert hashlib.sha256((raw / rel).read_bytes()).hexdigest() == digest
    assert sorted(a["source_files"]) == [f"{ids[0]}/info.json", f"{ids[0]}/label.txt", f"{ids[0]}/vid.avi"] or \
        sorted(a["source_files"]) == [f"{ids[0]}/label.txt", f"{ids[0]}/vid.avi"]
    fmeta = json.loads((path / "recordings" / ids[0] / "frames" / "zarr.json").read_text())
    assert fmeta["shape"] == [75, 72, 72, 3] and fmeta["data_type"] == "uint8"
    assert fmeta["chunk_grid"]["configuration"]["chunk_shape"] == [32, 72, 72, 3]


def test_frames_boxes_labels_equal_reference(toy):
    raw, path, ids, _ = toy
    st = open_store(path)
    rid = ids[1]
    video = _decode(raw / rid / "vid.avi")
    boxes = st.boxes(rid)
    assert boxes.shape == (75, 4) and boxes.dtype == np.int32
    # every crop is a square inside the frame; boxes only change on detection frames 0, 30, 60
    assert np.all(boxes[:, 2] == boxes[:, 3]) and np.all(boxes[:, 0] >= 0)
    assert np.all(boxes[:, 0] + boxes[:, 2] <= 200) and np.all(boxes[:, 1] + boxes[:, 3] <= 160)
    changes = np.flatnonzero(np.any(np.diff(boxes, axis=0) != 0, axis=1)) + 1
    assert set(changes) <= {30, 60}
    assert list(st.box_sources(rid)[[0, 1, 30, 31, 60]]) == [0, 1, 0, 1, 0]
    frames = st.read_frames(rid)
    assert frames.dtype == np.uint8 and frames.shape == (75, 72, 72, 3)
    for t in range(75):
        x, y, w, h = boxes[t]
        ref = cv2.resize(video[t, y:y + h, x:x + w], (72, 72), interpolation=cv2.INTER_AREA)
        assert np.array_equal(frames[t], ref)
    assert np.array_equal(st.read_frames(rid, 10, 43), frames[10:43])
    ts = st.timestamps(rid)
    assert ts.dtype == np.float64 and np.allclose(ts, np.arange(75) / FPS)
    lines = (raw / rid / "label.txt").read_text().splitlines()
    lv, lt = (np.array(line.split(), float) for line in lines)
    ref_ppg = np.interp(ts, lt, lv).astype(np.float32)
    assert np.array_equal(st.read_label(rid), ref_ppg)
    assert np.array_equal(st.frame_index(rid), np.arange(75))
    # rgb trace = spatial mean per frame
    assert np.allclose(st.rgb_trace(rid), frames.reshape(75, -1, 3).mean(axis=1))
    m = np.zeros((72, 72), bool)
    m[20:50, 10:60] = True
    assert np.allclose(st.rgb_trace(rid, mask=m), frames[:, m].mean(axis=1))


def _ref_views(frames: np.ndarray, label: np.ndarray):
    f = frames.astype(np.float64)
    dn = (f[1:] - f[:-1]) / (f[1:] + f[:-1] + 1e-7)
    dn = np.concatenate([dn / dn.std(), np.zeros((1,) + f.shape[1:])])
    stdz = (f - f.mean()) / f.std()
    lab = label.astype(np.float64)
    ld = np.append(np.diff(lab) / np.diff(lab).std(), 0.0)
    lz = (lab - lab.mean()) / lab.std()
    return {"raw": f, "diffnormalized": dn, "standardized": stdz}, {"raw": lab, "diffnormalized": ld,
                                                                     "standardized": lz}


@pytest.mark.parametrize("view", ["raw", "diffnormalized", "standardized"])
@pytest.mark.parametrize("start,stop", [(0, 75), (5, 37), (40, 75), (74, 75)])
def test_views_equal_whole_recording_formulas(toy, view, start, stop):
    _, path, ids, _ = toy
    st = open_store(path)
    rid = ids[0]
    fv, lv = _ref_views(st.read_frames(rid), st.read_label(rid))
    x, y = st.read_clip(rid, start, stop, view=view, label_view=view)
    assert x.dtype == np.float32 and x.shape == (stop - start, 72, 72, 3) and y.shape == (stop - start,)
    assert np.allclose(x, fv[view][start:stop], rtol=1e-4, atol=1e-4)
    assert np.allclose(y, lv[view][start:stop], rtol=1e-4, atol=1e-5)
    assert np.allclose(st.read_label(rid, view=view, start=start, stop=stop), lv[view][start:stop], atol=1e-5)


def test_reader_errors(toy, tmp_path):
    _, path, ids, _ = toy
    st = open_store(path)
    with pytest.raises(DataError, match="no complete recording 's9_a'"):
        st.read_frames("s9_a")
    with pytest.raises(ValueError, match=r"frame range \[70, 80\) must lie within \[0, 75\]"):
        st.read_frames(ids[0], 70, 80)
    with pytest.raises(ValueError, match="view must be one of"):
        st.read_clip(ids[0], view="normalized")
    with pytest.raises(DataError, match="not a Zarr store"):
        open_store(tmp_path)


def test_recipe_change_gives_other_store_and_mismatch_is_refused(toy, tmp_path):
    raw, path, ids, _ = toy
    a = Recipe.named("fp72").for_dataset("toy")
    b = a.replace(size=64)
    assert a.recipe_id != b.recipe_id
    assert store_path(ToyAdapter(), a) != store_path(ToyAdapter(), b)
    assert store_path(ToyAdapter(), a).name == store_key(a.recipe_id, ToyAdapter.version, None)[:16] + ".zarr"
    assert a.replace(name="other").recipe_id == a.recipe_id  # the name is cosmetic
    with pytest.raises(RecipeMismatchError) as exc:
        prepare(ToyAdapter(), raw, recipe=b, out=path, workers=0)
    assert a.recipe_id in str(exc.value) and b.recipe_id in str(exc.value)
    # default output path: under RPPGBENCH_DATA, keyed by the recipe
    s = prepare(ToyAdapter(), raw, recipe=b, workers=0, limit=1)
    assert s.store == store_path(ToyAdapter(), b) and s.written == [ids[0]]
    assert open_store(s.store).read_frames(ids[0]).shape[1:] == (64, 64, 3)


def test_resume_is_noop_and_overwrite_rebuilds(toy, tmp_path):
    raw, path, ids, _ = toy
    s = prepare(ToyAdapter(), raw, recipe="fp72", out=path, workers=0)
    assert s.written == [] and s.already_present == ids and s.ok


def test_recipe_serialisation(tmp_path):
    r = Recipe.named("tb72")
    assert r.detect_every == 0 and r.size == 72
    assert Recipe.named("pn128").size == 128
    assert Recipe.from_json(r.canonical_json()).recipe_id == r.recipe_id
    assert r.canonical_json() == json.dumps(json.loads(r.canonical_json()), sort_keys=True, separators=(",", ":"))
    p = tmp_path / "mine.yaml"
    p.write_text("base: fp72\nsize: 36\nno_face: whole\n")
    from rppgbench.preprocess.recipe import resolve_recipe

    q = resolve_recipe(str(p), "toy")
    assert (q.size, q.no_face, q.detect_every, q.dataset, q.name) == (36, "whole", 30, "toy", "mine")
    with pytest.raises(ValueError, match="unknown recipe field"):
        Recipe.from_dict({"sise": 3})
    with pytest.raises(ValueError, match="did you mean .fp72."):
        Recipe.named("fp27")
    with pytest.raises(ValueError, match="recipe.no_face must be one of"):
        Recipe(no_face="skip")


def test_direct_chunk_reads_equal_zarr_reads(toy):
    _, path, ids, _ = toy
    fast = open_store(path)
    slow = open_store(path)
    slow.direct_reads = False
    rid = ids[0]
    assert fast._frames(rid, 0, 1).dtype == np.uint8 and fast._arrays[(rid, "frames:direct")] is not None
    for a, b in [(0, 75), (0, 32), (31, 33), (33, 64), (64, 75), (10, 10)]:
        assert np.array_equal(fast.read_frames(rid, a, b), slow.read_frames(rid, a, b))
    for view in ("raw", "diffnormalized", "standardized"):
        xa, ya = fast.read_clip(rid, 3, 70, view=view, label_view=view)
        xb, yb = slow.read_clip(rid, 3, 70, view=view, label_view=view)
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    assert np.array_equal(fast.rgb_trace(rid), slow.rgb_trace(rid))


def test_boundary_chunk_kept_between_reads_and_scratch_never_leaks(toy, monkeypatch):
    """Consecutive clips share their boundary chunk (decoded once, kept per thread): every sequence of reads still
    equals zarr's, a kept chunk never serves another recording or a re-opened store, and no array a caller gets
    back is a scratch buffer that a later read overwrites."""
    from rppgbench.store import _chunks

    _, path, ids, _ = toy
    fast, slow = open_store(path), open_store(path)
    slow.direct_reads = False
    decoded = []
    real = _chunks.DirectFrames._data
    monkeypatch.setattr(_chunks.DirectFrames, "_data", lambda self, i: decoded.append(i) or real(self, i))
    a, b = ids
    for rid, start, stop in [(a, 0, 33), (a, 32, 64), (a, 32, 64), (b, 32, 64), (a, 63, 75), (b, 0, 75)]:
        assert np.array_equal(fast.read_frames(rid, start, stop), slow.read_frames(rid, start, stop))
    # (0, 33): chunks 0 and 1 (1 is cut: kept); (32, 64) twice: the kept 1; b: its own 1; (63, 75): the kept 1
    # and a's last chunk 2 (kept); b whole: 0, 1, 2
    assert decoded == [0, 1, 1, 2, 0, 1, 2]
    decoded.clear()
    fast.read_frames(a, 10, 40)
    again = open_store(path)  # a new Store (the path may have been prepared again): nothing kept is reused
    decoded.clear()
    again.read_frames(a, 32, 40)
    assert decoded == [1]
    f = fast.read_frames(a, 0, 40)
    x, _ = fast.read_clip(a, 0, 40, view="diffnormalized")
    f0, x0 = f.copy(), x.copy()
    fast.read_clip(a, 20, 60, view="diffnormalized")
    fast.read_clip(b, 0, 40, view="standardized", channels_first=True)
    assert np.array_equal(f, f0) and np.array_equal(x, x0)
    assert not np.shares_memory(x, fast.read_clip(a, 0, 40, view="diffnormalized")[0])


def test_reads_from_threads_equal_sequential_reads(toy):
    from concurrent.futures import ThreadPoolExecutor

    _, path, ids, _ = toy
    st = open_store(path)
    jobs = [(ids[k % 2], s, s + 33, v) for k, s in enumerate(range(0, 42, 3))
            for v in ("raw", "diffnormalized", "standardized")]
    want = [open_store(path).read_clip(r, a, b, view=v, channels_first=True)[0] for r, a, b, v in jobs]
    with ThreadPoolExecutor(3) as ex:
        got = list(ex.map(lambda j: st.read_clip(j[0], j[1], j[2], view=j[3], channels_first=True)[0], jobs * 3))
    assert all(np.array_equal(g, w) for g, w in zip(got, want * 3, strict=True))


def test_clip_dataset_items(toy):
    torch = pytest.importorskip("torch")
    from rppgbench.store.torchdata import ClipDataset

    _, path, ids, _ = toy
    st = open_store(path)
    ds = ClipDataset(st, ids, clip_len=32, input_view="diffnormalized", label_view="standardized", extra_frames=1)
    assert len(ds) == 4 and ds.index == [(ids[0], 0), (ids[0], 32), (ids[1], 0), (ids[1], 32)]
    x, y, rid, s = ds[1]
    assert x.dtype == torch.float32 and tuple(x.shape) == (3, 33, 72, 72) and tuple(y.shape) == (32,)
    assert (rid, s) == (ids[0], 32)
    ref_x, _ = st.read_clip(ids[0], 32, 65, view="diffnormalized")
    assert np.array_equal(x.numpy(), ref_x.transpose(3, 0, 1, 2))
    assert np.array_equal(y.numpy(), st.read_label(ids[0], "standardized", 32, 64))
    ds2 = ClipDataset(str(path), [ids[0]], clip_len=32, stride=16, drop_tail=False, extra_frames=2)
    assert [s for _, s in ds2.index] == [0, 16, 32, 43]
    x, y, _, _ = ds2[3]  # end-aligned clip: the extra frames repeat the last frame
    assert tuple(x.shape) == (3, 34, 72, 72)
    assert torch.equal(x[:, -1], x[:, -3]) and torch.equal(x[:, -2], x[:, -3])
    with pytest.raises(DataError, match="fewer than clip_len=100"):
        ClipDataset(st, ids, clip_len=100)
    import pickle

    assert len(pickle.loads(pickle.dumps(ds))) == 4  # DataLoader workers can receive it


def _one_pass_float32_view(block: np.ndarray, view: str, stats: dict, n_out: int) -> np.ndarray:
    """The view definitions as whole-clip float32 expressions (the reader's arithmetic before it was chunked)."""
    a = block.astype(np.float32)
    if view == "raw":
        return a[:n_out]
    if view == "standardized":
        return (a[:n_out] - np.float32(stats["frames_mean"])) * np.float32(1.0 / stats["frames_std"])
    out = np.zeros((n_out,) + block.shape[1:], np.float32)
    m = min(len(block) - 1, n_out)
    if m > 0:
        den = (a[1:m + 1] + a[:m] + np.float32(1e-7)) * np.float32(stats["diffnorm_std"])
        out[:m] = (a[1:m + 1] - a[:m]) / den
    return out


@pytest.fixture(params=["c", "numpy"])
def view_kernel(request):
    """Each view test once per implementation of the arithmetic (the compiled one skipped where it is not built:
    tests/test_kernels.py fails instead when a C compiler is present)."""
    from rppgbench.store import views

    if request.param == "c" and views._C is None:
        pytest.skip("rppgbench._kernels is not built in this install")
    prev = views.use_kernel(request.param)
    yield request.param
    views.use_kernel(prev)


@pytest.mark.parametrize("view", ["raw", "diffnormalized", "standardized"])
@pytest.mark.parametrize("n_frames,n_out", [(21, 20), (20, 20), (1, 1), (9, 8), (17, 17)])
@pytest.mark.parametrize("step_elems", [1 << 18, 200, 1])  # one step; steps of 2 (HWC) / 6 (planes) frames; 1
def test_chunked_view_arithmetic_is_bit_identical_in_both_layouts(view, n_frames, n_out, step_elems, monkeypatch,
                                                                  view_kernel):
    from rppgbench.store import views
    from rppgbench.store.views import frames_view

    monkeypatch.setattr(views, "_STEP_ELEMS", step_elems)
    rng = np.random.default_rng(n_frames)
    block = rng.integers(0, 256, size=(n_frames, 6, 5, 3), dtype=np.uint8)
    block[:, 0, 0] = 0  # 0 + 0 in the denominator: the epsilon keeps it finite
    stats = {"frames_mean": 117.3, "frames_std": 41.2, "diffnorm_std": 0.37}
    want = _one_pass_float32_view(block, view, stats, n_out)
    got = frames_view(block, view, stats, n_out)
    assert got.dtype == np.float32 and got.shape == want.shape and np.array_equal(got, want)
    first = frames_view(block, view, stats, n_out, channels_first=True)
    assert first.flags.c_contiguous and np.array_equal(first, want.transpose(3, 0, 1, 2))
    zero = frames_view(block, view, {"frames_mean": 1.0, "frames_std": 0.0, "diffnorm_std": 0.0}, n_out)
    assert np.array_equal(zero, want if view == "raw" else np.zeros_like(want))
    # several views written into slices of caller-given buffers (a padded DataLoader item), both layouts
    other = "raw" if view != "raw" else "standardized"
    both = np.concatenate([want, _one_pass_float32_view(block, other, stats, n_out)], axis=-1)
    buf = np.full((n_out + 2,) + block.shape[1:3] + (6,), np.nan, np.float32)
    assert frames_view(block, (view, other), stats, n_out, out=buf[1:-1]) is not None
    assert np.array_equal(buf[1:-1], both) and np.isnan(buf[[0, -1]]).all()
    buf = np.full((6, n_out + 2) + block.shape[1:3], np.nan, np.float32)
    frames_view(block, (view, other), stats, n_out, channels_first=True, out=buf[:, :n_out])
    assert np.array_equal(buf[:, :n_out], both.transpose(3, 0, 1, 2)) and np.isnan(buf[:, n_out:]).all()
    with pytest.raises(ValueError, match="out must be float32"):
        frames_view(block, view, stats, n_out, out=np.zeros((n_out + 1,) + block.shape[1:], np.float32))


def test_diffnormalized_equals_the_float64_formula_to_float32_rounding(view_kernel):
    """A clip-sized generated block: the fast float32 path against the definition in float64 (relative error of
    a few float32 ulps; exact zeros where both frames are 0 and in the last frame)."""
    from rppgbench.store.views import frames_view

    rng = np.random.default_rng(7)
    block = rng.integers(0, 256, size=(161, 72, 72, 3), dtype=np.uint8)
    block[:, :4] = rng.integers(0, 2, size=(161, 4, 72, 3))  # 0 + 0 and 0 + 1 denominators
    f = block.astype(np.float64)
    std = 0.0431
    ref = np.zeros((160, 72, 72, 3))
    ref[:159] = (f[1:160] - f[:159]) / (f[1:160] + f[:159] + 1e-7) / std
    for layout in (False, True):
        got = frames_view(block[:160], "diffnormalized", {"diffnorm_std": std}, 160, channels_first=layout)
        got = got.transpose(1, 2, 3, 0) if layout else got
        assert np.abs(got - ref).max() <= 4 * np.spacing(np.float32(np.abs(ref).max()))
        assert np.allclose(got, ref, rtol=3e-7, atol=0) and not got[-1].any()
        full = frames_view(block, "diffnormalized", {"diffnorm_std": std}, 160, channels_first=layout)
        full = full.transpose(1, 2, 3, 0) if layout else full
        ref[159] = (f[160] - f[159]) / (f[160] + f[159] + 1e-7) / std
        assert np.allclose(full, ref, rtol=3e-7, atol=0)
        ref[159] = 0


def test_recordings_are_listed_in_natural_order(tmp_path):
    """subject2 before subject10 everywhere a store lists recordings (ids, table, missing)."""
    import json

    from rppgbench.store import open_store

    root = tmp_path / "s.zarr"
    ids = ["subject10", "subject2", "subject1", "Subject3"]
    attrs = {"kind": "rppgbench-store", "recipe_id": "0" * 64, "dataset": "toy",
             "selected": ids + ["subject20", "subject9"], "qc": {"failed": {"subject20": "x", "subject9": "y"}}}
    root.mkdir()
    (root / "zarr.json").write_text(json.dumps({"attributes": {"rppgbench": attrs}}))
    for rid in ids:
        (root / "recordings" / rid).mkdir(parents=True)
        rec = {"complete": True, "recording_id": rid, "dataset": "toy", "subject": rid[-1], "n_frames": 1, "fps": 30}
        (root / "recordings" / rid / "zarr.json").write_text(json.dumps({"attributes": {"rppgbench": rec}}))
    st = open_store(root)
    assert st.recording_ids() == ["subject1", "subject2", "Subject3", "subject10"]
    assert list(st.recordings()["recording_id"]) == st.recording_ids()
    assert list(st.missing()) == ["subject9", "subject20"]
