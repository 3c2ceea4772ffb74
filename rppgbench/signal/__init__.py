"""Signal processing (numpy/scipy only): detrending, band-pass filtering, HR estimators, SNR/MACC, evaluation
windows and the classic unsupervised rPPG methods. Never imports torch."""
from rppgbench.signal.detrend import detrend, detrend_dense
from rppgbench.signal.filters import bandpass, butter_bandpass_coeffs
from rppgbench.signal.hr import (
                                 HR_METHODS,
                                 HREstimate,
                                 SignalWarning,
                                 next_pow2,
                                 nfft_for_resolution,
                                 peak_hr,
                                 periodogram_hr,
                                 psd,
                                 welch_hr,
)
from rppgbench.signal.methods import METHODS, spatial_mean
from rppgbench.signal.quality import SNR_FORMULAS, macc, macc_columns, snr, snr_columns, snr_from_psd
from rppgbench.signal.windows import nonoverlapping, sliding, whole

__all__ = ["detrend", "detrend_dense", "bandpass", "butter_bandpass_coeffs", "HR_METHODS", "HREstimate",
           "SignalWarning", "next_pow2", "nfft_for_resolution", "peak_hr", "periodogram_hr", "welch_hr", "METHODS",
           "spatial_mean", "SNR_FORMULAS", "macc", "snr", "nonoverlapping", "sliding", "whole", "psd", "macc_columns",
           "snr_columns", "snr_from_psd"]
