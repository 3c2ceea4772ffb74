"""``rppgbench metrics``: HR metrics of a prediction file under a named evaluation profile."""
from __future__ import annotations

import click

from rppgbench.signal.hr import HR_METHODS

EPILOG = """\b
Example:
  rppgbench metrics preds.npz --fs 30 --profile tb-head-2025 --window 10 --json metrics.json

\b
The file holds pred__<id> / label__<id> arrays (.npz, optional 'fs' key) or the columns
recording, pred, label[, sample] (.csv); see docs/metrics.md."""


def _fmt(v: float | None, digits: int = 4) -> str:
    if v is None or v != v:
        return "nan"
    return f"{v:.{digits}f}"


@click.command("metrics", epilog=EPILOG)
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=str))
@click.option("--fs", type=float, default=None, help="Sampling rate in Hz (required unless the .npz has an 'fs' key).")
@click.option("--profile", default="rppgbench", show_default=True,
              help="Evaluation profile (band, FFT, SNR, SE rules).")
@click.option("--window", "window", default=None,
              help="Window in seconds, 'whole' for whole recordings; default: the profile's window.")
@click.option("--stride", type=float, default=None, help="Sliding-window stride in seconds (needs --window).")
@click.option("--label-type", type=click.Choice(["raw", "diffnormalized", "standardized"]), default="raw",
              show_default=True, help="Signal view; diffnormalized signals are integrated before evaluation.")
@click.option("--hr-method", type=click.Choice(HR_METHODS), default=None,
              help="HR estimator (default: the profile's).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write the result as JSON to this path.")
def metrics(predictions: str, fs: float | None, profile: str, window: str | None, stride: float | None,
            label_type: str, hr_method: str | None, json_path: str | None) -> None:
    """Compute MAE, RMSE, MAPE, Pearson, SNR and MACC (each ± SE) of PREDICTIONS."""
    import json
    from pathlib import Path

    from rppgbench.evaluation import evaluate, load_predictions

    preds = load_predictions(predictions)
    if fs is None:
        if preds.fs is None:
            raise click.UsageError("--fs is required: the prediction file has no 'fs' key")
        fs = preds.fs
    elif preds.fs is not None and abs(preds.fs - fs) > 1e-9 * max(fs, 1.0):
        raise ValueError(f"--fs {fs} disagrees with the 'fs' key ({preds.fs}) of {predictions}")
    window_s: float | str | None
    if window is None:
        window_s = "profile"
    elif window.lower() in ("whole", "none"):
        window_s = None
    else:
        try:
            window_s = float(window)
        except ValueError:
            raise click.BadParameter(f"expected seconds or 'whole'; got {window!r}", param_hint="--window") from None
    res = evaluate(preds, fs=fs, profile=profile, window_s=window_s, label_type=label_type, hr_method=hr_method,
                   stride_s=stride)
    win = "whole recording" if res.window_s is None else f"{res.window_s:g} s" + (
        f" (stride {res.stride_s:g} s)" if res.stride_s else "")
    click.echo(f"profile: {res.profile}   HR method: {res.hr_method}   window: {win}   "
               f"HR resolution: {_fmt(res.hr_resolution_bpm)} bpm")
    click.echo(f"recordings: {len(res.per_recording)}   windows: {len(res.windows)}   fs: {res.fs:g} Hz   "
               f"tails not scored: {res.n_tails_dropped}   windows without HR: {res.n_excluded}")
    se_rule = "cluster-robust (CR1) by recording" if res.profile_settings.get("se_clusters") == "recording" \
        else "windows as independent samples"
    click.echo(f"standard errors: {se_rule}")
    click.echo(f"{'metric':<8} {'value':>12}   {'se':>10}  unit")
    for name, m in res.metrics.items():
        click.echo(f"{name:<8} {_fmt(m['value']):>12} ± {_fmt(m['se']):>10}  {m['unit']}")
    if json_path:
        from rppgbench._util import atomic_write_text

        out = Path(json_path)
        data = res.to_dict()
        data["source"] = str(predictions)
        atomic_write_text(out, json.dumps(data, indent=2, allow_nan=False))
        click.echo(f"wrote {out}")
