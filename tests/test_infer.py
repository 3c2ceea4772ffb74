"""``rppgbench infer`` on a synthetic video: unsupervised methods recover the rendered heart rate; a neural model
loaded from a checkpoint runs through the same CLI path (face crop -> view -> clip-wise prediction)."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from rppgbench.cli import main
from rppgbench.datasets.synthetic.presets import make_spec
from rppgbench.datasets.synthetic.render import render_recording
from rppgbench.datasets.synthetic.writer import write_recording

FPS = 30.0


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A clean synthetic recording (astronaut face, skin-reflection pulse, breathing and slow light drift) of 12 s,
    written as a lossless AVI. (GREEN is not tested: the drift puts its peak near 40 bpm, as it would on real video.)"""
    d = tmp_path_factory.mktemp("infer_video")
    rendered = render_recording(make_spec("clean", seed=1, seconds=12, width=160, height=120, hr_bpm=84))
    path = write_recording(rendered, d / "rec")
    return path, rendered


def read_csv(path):
    with open(path) as fh:
        rows = list(csv.reader(fh))
    return rows[0], np.array(rows[1:], dtype=float)


def _main(args, capsys):
    try:
        main(args)
        code = 0
    except SystemExit as exc:  # click standalone_mode=False returns normally on success
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("method", ["pos", "chrom"])
def test_unsupervised_recovers_the_rendered_heart_rate(video, tmp_path, capsys, method):
    path, rendered = video
    out = tmp_path / method
    code, stdout, stderr = _main(["infer", str(path), "--model", method, "--output", str(out), "--window", "6"], capsys)
    assert code == 0, stderr
    header, bvp = read_csv(out / "bvp.csv")
    assert header == ["time_s", "bvp"] and bvp.shape == (rendered.n_frames, 2)
    np.testing.assert_allclose(bvp[:, 0], np.arange(rendered.n_frames) / FPS, atol=1e-6)
    hheader, hr = read_csv(out / "hr.csv")
    assert hheader == ["start_s", "stop_s", "hr_bpm"]
    np.testing.assert_allclose(hr[:-1, :2], [[0, 6], [6, 12]])
    truth = rendered.mean_hr_bpm
    assert abs(hr[-1, 2] - truth) < 3.0  # whole video
    assert np.all(np.abs(hr[:-1, 2] - truth) < 5.0)  # 6-s windows (the rendered HR drifts a little)
    assert f"whole video: {hr[-1, 2]:.1f} bpm" in stdout
    assert (out / "plot.png").stat().st_size > 10_000 and (out / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_neural_checkpoint_through_the_cli_matches_the_library_path(video, tmp_path, capsys):
    """Wiring check for neural models: the CLI's BVP equals predict_array on the same crops, band-passed."""
    from rppgbench.datasets._io import iter_video
    from rppgbench.models import create_model
    from rppgbench.preprocess.face import make_detector
    from rppgbench.preprocess.face.track import FaceTracker
    from rppgbench.signal.filters import bandpass
    from rppgbench.store.views import frames_view, recording_stats
    from rppgbench.training import predict_array

    path, rendered = video
    torch.manual_seed(0)
    model = create_model("physfsunet.tiny")
    ckpt = tmp_path / "w.pt"
    torch.save(model.state_dict(), ckpt)
    code, stdout, stderr = _main(["infer", str(path), "--model", "physfsunet.tiny", "--checkpoint", str(ckpt),
                                  "--output", str(tmp_path / "o"), "--no-plot"], capsys)
    assert code == 0, stderr
    assert not (tmp_path / "o" / "plot.png").exists()
    _, bvp = read_csv(tmp_path / "o" / "bvp.csv")
    crops = FaceTracker(make_detector("haar"), size=model.cfg.frame_size).run(iter_video(path)).frames
    x = frames_view(crops, "standardized", recording_stats(crops, np.zeros(len(crops))), len(crops))
    ref = predict_array(model, model.cfg, x.transpose(3, 0, 1, 2))
    assert ref.shape == (rendered.n_frames,)  # 360 frames = 5 clips of 64 + an end-aligned tail clip
    ref = bandpass(ref - ref.mean(), FPS, 0.6, 3.3, order=2)
    np.testing.assert_allclose(bvp[:, 1], ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


def test_cli_errors(tmp_path, capsys, video):
    code, _, err = _main(["infer", str(tmp_path / "nope.avi"), "--model", "pos"], capsys)
    assert code == 2 and "does not exist" in err
    code, _, err = _main(["infer", str(video[0]), "--model", "poss"], capsys)
    assert code == 2 and "did you mean 'pos'" in err
    code, out, _ = _main(["infer", "--help"], capsys)
    assert code == 0 and "Example" in out


def test_a_diffnormalized_model_output_is_integrated_before_band_pass(video, tmp_path, capsys):
    """PhysNet predicts a pulse derivative (diffnormalized labels): the BVP written is the cumulative sum of the
    model's output, band-passed, as the evaluation integrates such predictions (and rPPG-Toolbox does)."""
    from rppgbench.datasets._io import iter_video
    from rppgbench.models import create_model
    from rppgbench.preprocess.face import make_detector
    from rppgbench.preprocess.face.track import FaceTracker
    from rppgbench.signal.filters import bandpass
    from rppgbench.store.views import frames_view, recording_stats
    from rppgbench.training import predict_array

    path, _ = video
    torch.manual_seed(0)
    model = create_model("physnet.tiny").eval()
    assert model.cfg.label_view == "diffnormalized"
    ckpt = tmp_path / "w.pt"
    torch.save(model.state_dict(), ckpt)
    code, _, stderr = _main(["infer", str(path), "--model", "physnet.tiny", "--checkpoint", str(ckpt),
                             "--output", str(tmp_path / "o"), "--no-plot"], capsys)
    assert code == 0, stderr
    _, bvp = read_csv(tmp_path / "o" / "bvp.csv")
    crops = FaceTracker(make_detector("haar"), size=model.cfg.frame_size).run(iter_video(path)).frames
    x = frames_view(crops, "diffnormalized", recording_stats(crops, np.zeros(len(crops))), len(crops))
    ref = np.cumsum(predict_array(model, model.cfg, x.transpose(3, 0, 1, 2)))
    ref = bandpass(ref - ref.mean(), FPS, 0.6, 3.3, order=2)
    np.testing.assert_allclose(bvp[:, 1], ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())

