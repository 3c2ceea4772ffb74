"""``rppgbench export``: a registered neural model (with its weights) to an ONNX file that carries its contract."""
from __future__ import annotations

import click


@click.command("export", epilog=(
    "Example: rppgbench export factorizephys --checkpoint run/model.pt --onnx factorizephys.onnx\n\n"
    "Example: rppgbench infer face.mp4 --onnx factorizephys.onnx"))
@click.argument("model_name")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Weights (loaded with weights_only=True, strict keys); without it the initial weights are "
                   "exported (useful for timing only).")
@click.option("--onnx", "onnx_out", required=True, type=click.Path(dir_okay=False),
              help="Output .onnx file (input 'input', output 'bvp', batch 1, the contract in its metadata).")
@click.option("--opset", type=int, default=18, show_default=True, help="ONNX opset.")
@click.option("--no-check", is_flag=True, help="Skip the onnxruntime-vs-PyTorch comparison on a random input.")
def export(model_name: str, checkpoint: str | None, onnx_out: str, opset: int, no_check: bool) -> None:
    """Export MODEL to ONNX (needs the extra: pip install "rppgbench[onnx]").

    The graph is traced on the contract input (batch 1); the file stores the model's contract (clip length,
    frame size, input view, fps, ...) so that `rppgbench infer --onnx FILE` needs nothing else. Unless
    --no-check, the exported graph is run with onnxruntime on a random input and the largest absolute
    difference from PyTorch is printed.
    """
    from pathlib import Path

    from rppgbench.models.onnx_export import export_onnx

    if checkpoint is not None and not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
    if checkpoint is None:
        click.echo(f"Warning: no --checkpoint: exporting the initial weights of {model_name}", err=True)
    res = export_onnx(model_name, onnx_out, checkpoint=checkpoint, opset=opset, check=not no_check)
    shape = "x".join(str(s) for s in res["input_shape"])
    click.echo(f"{res['model']}: wrote {res['path']} (input {shape}, {res['exporter']} exporter)")
    if res["max_abs_diff"] is not None:
        click.echo(f"max |onnxruntime - PyTorch| on a random input: {res['max_abs_diff']:.3g}")
