"""The embedded ``synthetic`` dataset: a physically grounded, seeded generator of face videos with exact PPG.

A real face photo (the public-domain NASA ``astronaut`` image shipped by scikit-image) is composited on a
background; its skin follows the skin-reflection model of Wang et al. (IEEE TBME 2017)::

    C_k(t) = I(t) * ( rho_k * f(t) * (1 - a * w_k * p(t)) + s(t) ),   w = (0.33, 0.77, 0.53) for (R, G, B)

where ``p(t)`` is the ground-truth **blood volume** (skin darkens as it rises), ``I`` the illumination, ``f`` the
shading of the moving head and ``s`` a specular term. Head motion, illumination drift/flicker, skin tone
(Fitzpatrick I-VI), sensor noise and JPEG compression are controlled by presets (``clean``, ``motion``,
``light``, ``hard``, ``mixed``) and recorded in each recording's metadata. Same seed and arguments give
byte-identical files.

Raw layout written by :func:`write_raw_dataset` (read by :class:`SyntheticAdapter`)::

    <root>/manifest.csv                 recording_id,subject,session,preset,seed,mean_hr_bpm,n_frames,fps,width,height
    <root>/<recording_id>/video.avi     lossless HuffYUV (RGB frames stored BGR, as OpenCV does)
    <root>/<recording_id>/ppg.csv       "time_s,ppg" at the label rate (60 Hz) with its own timestamps
    <root>/<recording_id>/frames.csv    "time_s", one row per frame
    <root>/<recording_id>/meta.json     generator parameters, true mean HR, preset, seed

Recording ids are ``sNN_rMM`` (subject NN, recording MM), so protocols can split by subject.

Example
-------
>>> from rppgbench.datasets.synthetic import make_spec, render_recording
>>> r = render_recording(make_spec("clean", seed=0, seconds=5, width=96, height=72))
>>> r.frames.shape, round(r.mean_hr_bpm) > 0
((150, 72, 96, 3), True)
"""
from __future__ import annotations

from rppgbench.datasets.synthetic.adapter import SyntheticAdapter
from rppgbench.datasets.synthetic.ppg import PulseWave, make_pulse
from rppgbench.datasets.synthetic.presets import (
                                                  FITZPATRICK,
                                                  MIXED_CYCLE,
                                                  PRESET_NAMES,
                                                  PRESETS,
                                                  SKIN_WEIGHTS,
                                                  SyntheticSpec,
                                                  make_spec,
)
from rppgbench.datasets.synthetic.render import GENERATOR_VERSION, Rendered, render_recording
from rppgbench.datasets.synthetic.writer import MANIFEST_COLUMNS, VIDEO_CODECS, write_raw_dataset, write_recording

__all__ = [
    "SyntheticSpec", "make_spec", "render_recording", "Rendered", "write_raw_dataset", "write_recording",
    "SyntheticAdapter", "PRESETS", "PRESET_NAMES", "MIXED_CYCLE", "FITZPATRICK", "SKIN_WEIGHTS", "PulseWave",
    "make_pulse", "MANIFEST_COLUMNS", "VIDEO_CODECS", "GENERATOR_VERSION",
]
