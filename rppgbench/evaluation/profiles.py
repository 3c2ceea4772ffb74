"""Versioned evaluation profiles: every choice that changes an HR metric, named and frozen.

Three profiles are defined (stated in full in ``docs/metrics.md``):

- ``rppgbench``: the suite's default.
- ``tb-head-2025``: rPPG-Toolbox at commit d807b01 (2025-09-01), the post-processing FactorizePhys also uses.
- ``tb-neurips2023``: rPPG-Toolbox as used for the NeurIPS 2023 Datasets & Benchmarks paper (Liu et al., "rPPG-Toolbox:
  Deep remote PPG toolbox", NeurIPS 2023): band 0.75-2.5 Hz, SNR as 20·log10 of the power ratio, the #154 RMSE SE,
  no MACC.

A profile is data: evaluation code reads its fields and never branches on the profile's name.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rppgbench._registry import Registry
from rppgbench.signal.hr import next_pow2, nfft_for_resolution
from rppgbench.signal.quality import SNR_FORMULAS

__all__ = ["Profile", "PROFILES", "get_profile", "list_profiles", "RMSE_SE_RULES", "SE_CLUSTER_RULES"]

#: ``tb2023``: std(e²)/√n (rPPG-Toolbox #154); ``tb2025``: √(std(e²)/√n) (#305);
#: ``delta``: SE(MSE)/(2·RMSE), the delta-method standard error of √MSE.
RMSE_SE_RULES = ("tb2023", "tb2025", "delta")
#: ``none``: windows are independent samples (SD/√n, the toolbox); ``recording``: cluster-robust (CR1) standard
#: errors with the windows of one recording (or of one caller-given cluster, e.g. a subject) as a cluster.
SE_CLUSTER_RULES = ("none", "recording")


@dataclass(frozen=True)
class Profile:
    """Every setting of the per-window processing and of the pooled metrics.

    Attributes
    ----------
    band : (lo, hi) Hz of the Butterworth band-pass, of the HR arg-max (inclusive) and of the SNR "rest" bins.
    filter_order : Butterworth order (applied forwards and backwards by ``filtfilt``).
    detrend_lambda : smoothness-priors lambda applied before the band-pass.
    nfft_rule : ``"next_pow2"`` (next power of two >= N) or ``"resolution"`` (also >= fs·60/resolution_bpm).
    resolution_bpm : target FFT bin width for ``nfft_rule="resolution"``.
    snr_formula : one of :data:`rppgbench.signal.quality.SNR_FORMULAS`.
    snr_halfwidth_hz : half-width of the windows around f0 and 2·f0.
    se_ddof : ddof of the standard deviations in the standard errors (0: numpy default as in the toolbox); with
        ``se_clusters="recording"`` the CR1 factor G/(G-1) takes its place and ``se_ddof`` is not used.
    rmse_se : one of :data:`RMSE_SE_RULES`.
    se_clusters : one of :data:`SE_CLUSTER_RULES` (``none``: windows independent; ``recording``: cluster-robust).
    macc : compute MACC per window.
    window_s : default window in seconds (None = whole recording).
    min_window : windows shorter than this many samples are skipped (the toolbox's rule: 9).
    partial_windows : score a last window shorter than the window (if >= ``min_window`` samples; the toolbox);
        False: only full windows are scored and the tail is dropped (counted in ``n_tails_dropped``).
    cap_window : a window longer than the recording is shortened to it (toolbox) instead of an error.
    hr_method : default HR estimator: ``fft`` | ``welch`` | ``peak``.
    """

    name: str
    description: str
    band: tuple[float, float]
    filter_order: int
    detrend_lambda: float
    nfft_rule: str
    snr_formula: str
    rmse_se: str
    macc: bool
    window_s: float | None
    cap_window: bool
    se_ddof: int = 0
    resolution_bpm: float | None = None
    snr_halfwidth_hz: float = 0.1
    min_window: int = 9
    partial_windows: bool = True
    se_clusters: str = "none"
    hr_method: str = "fft"
    reference: str = ""

    def __post_init__(self) -> None:
        lo, hi = self.band
        if not 0 < lo < hi:
            raise ValueError(f"profile {self.name}: band must satisfy 0 < lo < hi; got {self.band}")
        if self.nfft_rule not in ("next_pow2", "resolution"):
            raise ValueError(f"profile {self.name}: nfft_rule must be 'next_pow2' or 'resolution'; "
                             f"got {self.nfft_rule!r}")
        if self.nfft_rule == "resolution" and not (self.resolution_bpm and self.resolution_bpm > 0):
            raise ValueError(f"profile {self.name}: nfft_rule='resolution' needs resolution_bpm > 0")
        if self.snr_formula not in SNR_FORMULAS:
            raise ValueError(f"profile {self.name}: snr_formula must be one of {SNR_FORMULAS}; "
                             f"got {self.snr_formula!r}")
        if self.rmse_se not in RMSE_SE_RULES:
            raise ValueError(f"profile {self.name}: rmse_se must be one of {RMSE_SE_RULES}; got {self.rmse_se!r}")
        if self.se_clusters not in SE_CLUSTER_RULES:
            raise ValueError(f"profile {self.name}: se_clusters must be one of {SE_CLUSTER_RULES}; "
                             f"got {self.se_clusters!r}")
        if self.se_ddof not in (0, 1):
            raise ValueError(f"profile {self.name}: se_ddof must be 0 or 1; got {self.se_ddof!r}")

    def nfft(self, n: int, fs: float) -> int:
        """FFT length for a window of ``n`` samples at ``fs`` Hz."""
        if self.nfft_rule == "next_pow2":
            return next_pow2(n)
        return nfft_for_resolution(n, fs, float(self.resolution_bpm))  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["band"] = list(self.band)
        return d

    def replace(self, **changes: Any) -> Profile:
        return dataclasses.replace(self, **changes)


PROFILES: Registry[Profile] = Registry("evaluation profile")

PROFILES.register("rppgbench", Profile(
    name="rppgbench",
    description=("rppgbench default: toolbox-compatible band and filtering, zero-padded FFT (<= 0.2 bpm bins), "
                 "10 s windows, full windows only (a shorter tail is dropped and counted), 10·log10 SNR, "
                 "cluster-robust (CR1, by recording) standard errors, delta-method RMSE SE, MACC on"),
    band=(0.6, 3.3), filter_order=1, detrend_lambda=100.0, nfft_rule="resolution", resolution_bpm=0.2,
    snr_formula="power_db10", rmse_se="delta", se_ddof=1, macc=True, window_s=10.0, cap_window=False,
    partial_windows=False, se_clusters="recording",
    reference="docs/metrics.md",
))
PROFILES.register("tb-head-2025", Profile(
    name="tb-head-2025",
    description=("rPPG-Toolbox d807b01 (2025-09-01) / FactorizePhys: 0.6-3.3 Hz, 10·log10 SNR, "
                 "sqrt(std(e²)/sqrt(n)), MACC"),
    band=(0.6, 3.3), filter_order=1, detrend_lambda=100.0, nfft_rule="next_pow2",
    snr_formula="power_db10", rmse_se="tb2025", se_ddof=0, macc=True, window_s=None, cap_window=True,
    reference="ubicomplab/rPPG-Toolbox@d807b01 evaluation/post_process.py, metrics.py",
))
PROFILES.register("tb-neurips2023", Profile(
    name="tb-neurips2023",
    description="rPPG-Toolbox NeurIPS 2023 paper era: 0.75-2.5 Hz, 20·log10 SNR, std(e²)/sqrt(n), no MACC",
    band=(0.75, 2.5), filter_order=1, detrend_lambda=100.0, nfft_rule="next_pow2",
    snr_formula="power_db20", rmse_se="tb2023", se_ddof=0, macc=False, window_s=None, cap_window=True,
    reference="Liu et al., rPPG-Toolbox, NeurIPS 2023 Datasets and Benchmarks; toolbox #154-#288 behaviour",
))


def get_profile(name: str | Profile) -> Profile:
    """The profile called ``name`` (a :class:`Profile` is returned as is); unknown names suggest close matches."""
    if isinstance(name, Profile):
        return name
    return PROFILES.get(name)


def list_profiles() -> list[str]:
    """Names of the registered profiles."""
    return PROFILES.names()
