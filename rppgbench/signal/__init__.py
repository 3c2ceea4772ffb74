"""Signal processing (numpy/scipy only): detrending, band-pass filtering, HR estimators, SNR/MACC, evaluation
windows and the classic unsupervised rPPG methods. Never imports torch.

The names below are imported from their submodule on first use, so ``import rppgbench.signal.hr`` does not
import scipy.signal through the filters (see :func:`rppgbench._util.lazy_exports`).
"""
from rppgbench._util import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("detrend", "detrend_dense"), "detrend"),
    **dict.fromkeys(("bandpass", "butter_bandpass_coeffs"), "filters"),
    **dict.fromkeys(("HR_METHODS", "HREstimate", "SignalWarning", "next_pow2", "nfft_for_resolution", "peak_hr",
                     "periodogram_hr", "psd", "welch_hr"), "hr"),
    **dict.fromkeys(("METHODS", "spatial_mean"), "methods"),
    **dict.fromkeys(("SNR_FORMULAS", "macc", "macc_columns", "snr", "snr_columns", "snr_from_psd"), "quality"),
    **dict.fromkeys(("nonoverlapping", "sliding", "whole"), "windows"),
}
__all__ = sorted(_EXPORTS)
lazy_exports(__name__, _EXPORTS)
