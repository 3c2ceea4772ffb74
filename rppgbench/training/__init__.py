"""Training (L7): one generic :class:`Trainer`, the ``LOSSES`` registry, the store-to-torch bridge and
whole-recording prediction.

Example
-------
>>> from rppgbench.models import create_model                                      # doctest: +SKIP
>>> from rppgbench.training import Trainer, TrainConfig, predict_recordings         # doctest: +SKIP
>>> model = create_model("physfsunet.tiny")                                        # doctest: +SKIP
>>> history = Trainer(model, model.cfg, TrainConfig(epochs=2, out_dir="run")).fit(train_ds, valid_ds)  # doctest: +SKIP
"""
from rppgbench.training.data import ArrayClipDataset, clip_dataset, make_loader
from rppgbench.training.losses import LOSSES, get_loss
from rppgbench.training.predict import predict_array, predict_recordings
from rppgbench.training.trainer import TrainConfig, Trainer
from rppgbench.training.video import InferenceResult, infer_video

__all__ = ["Trainer", "TrainConfig", "predict_recordings", "predict_array", "LOSSES", "get_loss",
           "ArrayClipDataset", "clip_dataset", "make_loader", "infer_video", "InferenceResult"]
