"""Extra label columns and adapter frame masks (iBVP-style signal-quality deletion) in the store."""
from __future__ import annotations

import numpy as np
from _store_toy import FPS, ToyAdapter, write_toy_raw

from rppgbench.store import open_store, prepare


class QualityToy(ToyAdapter):
    """Toy adapter whose label has a quality column ``sq`` (0 for t in [1.0, 1.5) s) and that drops those frames."""

    def read_label(self, rec):
        track = super().read_label(rec)
        track.extra = {"sq": np.where((track.timestamps >= 1.0) & (track.timestamps < 1.5), 0.0, 1.0)}
        return track

    def frame_mask(self, rec, aligned):
        if self.options.get("sq_policy") == "delete":
            return aligned["sq"] > 0.5
        return None


def test_extra_columns_and_frame_mask(tmp_path):
    raw = tmp_path / "raw"
    write_toy_raw(raw, n_recordings=1, n_frames=60)
    keep = prepare(QualityToy(), raw, out=tmp_path / "keep.zarr", workers=0)
    drop = prepare(QualityToy(sq_policy="delete"), raw, out=tmp_path / "drop.zarr", workers=0)
    assert keep.ok and drop.ok
    a, b = open_store(tmp_path / "keep.zarr"), open_store(tmp_path / "drop.zarr")
    assert a.recipe.dataset_options == {} and b.recipe.dataset_options == {"sq_policy": "delete"}
    assert a.recipe_id != b.recipe_id
    t = np.arange(60) / FPS
    sq_ref = np.interp(t, np.arange(120) / 60.0, np.where((np.arange(120) / 60.0 >= 1.0) &
                                                          (np.arange(120) / 60.0 < 1.5), 0.0, 1.0))
    assert a.extra_names("s1_a") == ["sq"] and np.array_equal(a.extra("s1_a", "sq"), sq_ref.astype(np.float32))
    kept = sq_ref > 0.5
    assert b.n_frames("s1_a") == int(kept.sum()) < 60
    assert np.array_equal(b.frame_index("s1_a"), np.flatnonzero(kept))
    assert np.array_equal(b.timestamps("s1_a"), t[kept])
    assert np.array_equal(b.read_frames("s1_a"), a.read_frames("s1_a")[kept])
    assert np.array_equal(b.read_label("s1_a"), a.read_label("s1_a")[kept])
    qc = b.qc("s1_a")
    gone = np.flatnonzero(~kept)
    assert qc["frames_masked"] == gone.size and qc["ranges_masked"] == [[int(gone[0]), int(gone[-1]) + 1]]
    assert qc["frames_decoded"] == 60
    # views use the statistics of the stored (masked) recording
    f = b.read_frames("s1_a").astype(np.float64)
    x, _ = b.read_clip("s1_a", view="standardized")
    assert np.allclose(x, (f - f.mean()) / f.std(), atol=1e-4)
