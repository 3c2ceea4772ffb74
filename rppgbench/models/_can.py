"""The convolutional attention network (CAN) family of per-frame 2-D models: DeepPhys, TS-CAN, EfficientPhys.

One parameterised module, :class:`CAN`, holds what the three share; each model file (``deepphys.py``,
``tscan.py``, ``efficientphys.py``) picks its variant and registers it. From the papers:

* **DeepPhys** (Chen & McDuff, ECCV 2018): a *motion* branch on normalised frame differences and an
  *appearance* branch on the (standardised) frame itself. After the 2nd and 4th appearance convolutions a 1x1
  convolution and a sigmoid give a soft mask, L1-normalised per frame to ``H*W*s / (2*||s||_1)``, that gates the
  motion features. Conv pairs (3x3, the first padded, the second "valid") with tanh, 2x2 average pooling and
  dropout 0.25 after each pair, then a dense layer of 128 (tanh, dropout 0.5) and one output per frame.
* **TS-CAN** (Liu et al., NeurIPS 2020): DeepPhys with a temporal shift (TSM, Lin et al., ICCV 2019) before every
  motion convolution: the frames are cut into segments of ``frame_depth`` consecutive frames; in each segment
  the first third of the channels takes the next frame's values, the second third the previous frame's (zeros
  at the segment ends), the rest is unchanged.
* **EfficientPhys** (Liu et al., WACV 2023): no appearance branch and no preprocessing: the network takes
  ``N + 1`` standardised frames, differences them itself (``N`` difference frames), normalises them with a
  ``BatchNorm2d(3)`` and runs the TS-CAN motion branch; the attention masks come from the motion features
  themselves (self-attention). The toolbox's parameter names keep the ``apperance_att_conv*`` spelling.

From rPPG-Toolbox's release (``tests/spec/{DeepPhys,TSCAN,EfficientPhys}.txt``): the parameter
names (including the spelling ``apperance``), their registration order, the widths 32/64, the dense width 128,
and the flattened size of the last pooled map (16,384 at 72 x 72). A choice here: the flattened size is computed
from ``frame_size`` for any size the layers accept, where the toolbox lists four sizes (36, 72, 96, 128) and
rejects the others; at those four the sizes are equal.

Input: ``N x C x H x W`` frames (the clips of a batch flattened, layout ``frames``); output ``N x 1`` (one
value per frame), ``(N - 1) x 1`` for EfficientPhys.
"""
from __future__ import annotations

import torch
from torch import nn

from rppgbench.models._base import ContractMixin

__all__ = ["CAN", "temporal_shift_frames", "attention_mask", "flat_features"]


def temporal_shift_frames(x: torch.Tensor, segment: int, fold_div: int = 3) -> torch.Tensor:
    """TSM on ``(N, C, H, W)`` frames in segments of ``segment`` consecutive frames: channels ``[0, C/fold_div)``
    take frame t+1, ``[C/fold_div, 2C/fold_div)`` frame t-1 (zeros where the segment ends), the rest stay."""
    n, c, h, w = x.shape
    if n % segment:
        raise ValueError(f"temporal shift: {n} frames are not a multiple of the segment length {segment}")
    v = x.reshape(n // segment, segment, c, h, w)
    fold = c // fold_div
    out = torch.zeros_like(v)
    out[:, :-1, :fold] = v[:, 1:, :fold]
    out[:, 1:, fold:2 * fold] = v[:, :-1, fold:2 * fold]
    out[:, :, 2 * fold:] = v[:, :, 2 * fold:]
    return out.reshape(n, c, h, w)


def attention_mask(s: torch.Tensor) -> torch.Tensor:
    """The CAN soft mask normalisation ``H*W*s / (2*sum(s))`` per frame, for ``s`` (N, 1, H, W) in (0, 1)."""
    h, w = s.shape[-2:]
    total = s.sum(dim=2, keepdim=True).sum(dim=3, keepdim=True)  # rows, then columns: the released order
    return s / total * h * w * 0.5


def flat_features(frame_size: int, width: int, kernel: int = 3, pool: int = 2) -> int:
    """Values per frame entering the first dense layer: two conv pairs (padded, then valid) each followed by
    ``pool`` x ``pool`` average pooling (36 -> 3,136, 72 -> 16,384, 96 -> 30,976, 128 -> 57,600 at width 64)."""
    s = int(frame_size)
    for _ in range(2):
        s = (s - kernel + 1) // pool
    if s < 1:
        raise ValueError(f"frame_size={frame_size} is too small for two 3x3 'valid' convolutions and two "
                         f"{pool}x{pool} poolings")
    return width * s * s


class CAN(ContractMixin, nn.Module):
    """A convolutional attention network on frames (see the module docstring).

    Parameters
    ----------
    frame_size : int
        Square frame side (72 in the released configurations).
    channels : int
        Input channels: 3 per branch (6 = motion then appearance with an appearance branch, 3 without).
    appearance : bool
        An appearance branch computes the masks (DeepPhys, TS-CAN); without it they come from the motion
        features (EfficientPhys).
    shift_segment : int or None
        Temporal shift before every motion convolution in segments of that many frames (TS-CAN and
        EfficientPhys ``frame_depth``); None: no shift (DeepPhys).
    difference_input : bool
        Take ``torch.diff`` along the frames and ``BatchNorm2d`` first (EfficientPhys): N + 1 frames in, N out.
    nb_filters1, nb_filters2, kernel_size, pool_size, nb_dense, dropout_rate1, dropout_rate2
        As released: 32, 64, 3, 2, 128, 0.25, 0.5.
    """

    layout = "frames"

    def __init__(self, frame_size: int = 72, channels: int = 6, *, appearance: bool = True,
                 shift_segment: int | None = None, difference_input: bool = False, nb_filters1: int = 32,
                 nb_filters2: int = 64, kernel_size: int = 3, pool_size: int = 2, nb_dense: int = 128,
                 dropout_rate1: float = 0.25, dropout_rate2: float = 0.5) -> None:
        super().__init__()
        if frame_size is None:
            raise ValueError(f"{type(self).__name__}: frame_size is required (the dense layer depends on it)")
        branches = 2 if appearance else 1
        if channels % branches:
            raise ValueError(f"{type(self).__name__}: channels={channels} must be {branches} x the channels of one "
                             f"branch (motion{' then appearance' if appearance else ''})")
        cin = channels // branches
        self.appearance = bool(appearance)
        self.shift_segment = shift_segment
        self.difference_input = bool(difference_input)
        self.contract = (channels, frame_size, frame_size)
        self.frame_multiple = int(shift_segment or 1)
        self.frame_extra = 1 if difference_input else 0
        self.small_input = (self.frame_multiple, frame_size)
        k, pad = kernel_size, kernel_size // 2
        f1, f2 = nb_filters1, nb_filters2
        self.motion_conv1 = nn.Conv2d(cin, f1, k, padding=pad)
        self.motion_conv2 = nn.Conv2d(f1, f1, k)
        self.motion_conv3 = nn.Conv2d(f1, f2, k, padding=pad)
        self.motion_conv4 = nn.Conv2d(f2, f2, k)
        if self.appearance:
            self.apperance_conv1 = nn.Conv2d(cin, f1, k, padding=pad)
            self.apperance_conv2 = nn.Conv2d(f1, f1, k)
            self.apperance_conv3 = nn.Conv2d(f1, f2, k, padding=pad)
            self.apperance_conv4 = nn.Conv2d(f2, f2, k)
        self.apperance_att_conv1 = nn.Conv2d(f1, 1, 1)
        self.apperance_att_conv2 = nn.Conv2d(f2, 1, 1)
        self.pool = nn.AvgPool2d(pool_size)
        self.drop1 = nn.Dropout(dropout_rate1)
        self.drop2 = nn.Dropout(dropout_rate2)
        self.final_dense_1 = nn.Linear(flat_features(frame_size, f2, k, pool_size), nb_dense)
        self.final_dense_2 = nn.Linear(nb_dense, 1)
        if self.difference_input:
            self.batch_norm = nn.BatchNorm2d(cin)

    def _shift(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.shift_segment is None else temporal_shift_frames(x, self.shift_segment)

    def _gate(self, att_conv: nn.Conv2d, source: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        return motion * attention_mask(torch.sigmoid(att_conv(source)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if self.difference_input:
            motion, app = self.batch_norm(torch.diff(x, dim=0)), None
        else:
            half = x.shape[1] // 2 if self.appearance else x.shape[1]
            motion, app = x[:, :half], (x[:, half:] if self.appearance else None)
        d = torch.tanh(self.motion_conv1(self._shift(motion)))
        d = torch.tanh(self.motion_conv2(self._shift(d)))
        if app is not None:
            r = torch.tanh(self.apperance_conv2(torch.tanh(self.apperance_conv1(app))))
            d = self.drop1(self.pool(self._gate(self.apperance_att_conv1, r, d)))
            r = self.drop1(self.pool(r))  # after the motion dropout: the toolbox's order of random draws
        else:
            d = self.drop1(self.pool(self._gate(self.apperance_att_conv1, d, d)))
        d = torch.tanh(self.motion_conv3(self._shift(d)))
        d = torch.tanh(self.motion_conv4(self._shift(d)))
        if app is not None:
            r = torch.tanh(self.apperance_conv4(torch.tanh(self.apperance_conv3(r))))
            d = self._gate(self.apperance_att_conv2, r, d)
        else:
            d = self._gate(self.apperance_att_conv2, d, d)
        d = self.drop1(self.pool(d))
        h = self.drop2(torch.tanh(self.final_dense_1(d.flatten(1))))
        return self.final_dense_2(h)
