"""``rppgbench infer``: pulse and heart rate from your own video, no ground truth needed."""
from __future__ import annotations

import click

from rppgbench.cli._options import device_option, output_option


@click.command("infer", epilog=(
    "Example: rppgbench infer face.mp4 --model pos --output out/ --window 10\n\n"
    "Example: rppgbench infer face.avi --checkpoint runs/quick/checkpoints/physfsunet_tiny/model.pt  (the run's "
    "model.json beside it names the model and its crop)\n\n"
    "Example: rppgbench infer face.avi --onnx physfsunet.onnx  (from rppgbench export; runs on onnxruntime)"))
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("--model", "model_name", default=None,
              help="Registered model: a neural one (with --checkpoint) or an unsupervised method (pos, chrom, ...); "
                   "may be left out when the checkpoint comes from `rppgbench run` (its model.json names it).")
@click.option("--onnx", "onnx_path", type=click.Path(dir_okay=False), default=None,
              help="An ONNX file written by `rppgbench export` (instead of --model; run with onnxruntime).")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Weights for a neural model (loaded with weights_only=True, strict keys); a run's model.json "
                   "beside them gives the crop size, views and detector it was trained with.")
@click.option("--random-weights", is_flag=True,
              help="Run a neural model without a checkpoint (untrained: a pipeline check, not a heart rate).")
@output_option("Folder for bvp.csv, hr.csv and plot.png (default: <video name>_<model>_infer in the current "
               "directory, never beside the video: raw data folders stay untouched).",
               deprecated=("--out",))
@click.option("--window", "window_s", type=float, default=10.0, show_default=True,
              help="Heart-rate window in seconds.")
@click.option("--fps", type=float, default=None, help="Frame rate, when the container's is missing or wrong.")
@click.option("--detector", default=None,
              help="Face detector (see `rppgbench ls recipes`; default the checkpoint's recipe's, else haar).")
@device_option
@click.option("--no-plot", is_flag=True, help="Skip plot.png.")
def infer(video: str, model_name: str | None, onnx_path: str | None, checkpoint: str | None, random_weights: bool,
          output: str | None, window_s: float, fps: float | None, detector: str | None, device: str | None,
          no_plot: bool) -> None:
    """Estimate the BVP waveform and heart rate of the face in VIDEO.

    The face is tracked and cropped to the model's input size; a neural model predicts clip by clip (the last,
    shorter part of the video too), an unsupervised method runs on the whole crop sequence. The BVP is written
    to CSV (time_s, bvp), the heart rate per window is printed and written to hr.csv, and a plot of the
    waveform and its spectrum is saved as PNG.
    """
    from pathlib import Path

    from rppgbench.training.video import infer_video, write_outputs

    if model_name is None and onnx_path is None and checkpoint is not None:
        from rppgbench.training.run_card import read_run_card

        card = read_run_card(checkpoint) if Path(checkpoint).is_file() else None
        if card is None:
            raise click.UsageError(f"--checkpoint {checkpoint} has no model.json beside it (written by `rppgbench "
                                   "run`): say which model it is with --model NAME")
        model_name = card["model"]
    if (model_name is None) == (onnx_path is None):
        raise click.UsageError("give exactly one of --model NAME and --onnx FILE")
    if random_weights and (checkpoint is not None or onnx_path is not None):
        raise click.UsageError("--random-weights is for a neural --model without --checkpoint")
    if onnx_path is not None and checkpoint is not None:
        raise click.UsageError("--checkpoint goes with --model; an ONNX file already holds its weights")
    if not Path(video).is_file():
        raise FileNotFoundError(f"video {video} does not exist")
    if onnx_path is not None:
        if not Path(onnx_path).is_file():
            raise FileNotFoundError(f"ONNX file {onnx_path} does not exist")
        from rppgbench.models.onnx_export import OnnxModel

        model = OnnxModel(onnx_path)
        tag = f"{model.cfg.name}-onnx"
    else:
        model, tag = model_name, model_name
    res = infer_video(video, model, checkpoint=checkpoint, window_s=window_s, detector=detector, fps=fps,
                      device=device, random_weights=random_weights)
    out = Path(output) if output else Path.cwd() / f"{Path(video).stem}_{tag}_infer"
    paths = write_outputs(res, out, plot=not no_plot)
    for w in res.warnings:
        click.echo(f"Warning: {w}", err=True)
    click.echo(f"{Path(video).name}: {len(res.bvp)} frames at {res.fps:.3g} fps, model {res.model}, "
               f"{res.crop['size']} px crops by {res.crop['detector']}")
    click.echo(f"{'start_s':>8} {'stop_s':>8} {'hr_bpm':>7}")
    for a, b, h in res.windows:
        click.echo(f"{a:8.1f} {b:8.1f} {h:7.1f}")
    click.echo(f"whole video: {res.hr_bpm:.1f} bpm")
    for kind, p in paths.items():
        click.echo(f"{kind}: {p}")
