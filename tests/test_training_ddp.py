"""DistributedDataParallel: two CPU processes (gloo) launched by torchrun train a tiny model for one epoch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

SCRIPT = textwrap.dedent('''
    import json, os, sys
    import numpy as np
    import torch
    from rppgbench.models import ModelCfg
    from rppgbench.training import ArrayClipDataset, TrainConfig, Trainer

    out = sys.argv[1]
    rng = np.random.default_rng(0)
    t = np.arange(96) / 30.0
    videos, labels = {}, {}
    for i in range(4):
        pulse = np.sin(2 * np.pi * (60 + 10 * i) / 60 * t)
        videos[f"r{i}"] = (rng.normal(0, 0.3, (3, 96, 4, 4)) + pulse[None, :, None, None]).astype(np.float32)
        labels[f"r{i}"] = pulse.astype(np.float32)
    ds = ArrayClipDataset(videos, labels, 32)          # 12 clips -> 6 per rank -> 3 batches of 2
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv3d(3, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(2, 1, 1),
                                torch.nn.Flatten(2), torch.nn.Unflatten(2, (32, 16)))
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = model
        def forward(self, x):
            return self.body(x).mean(dim=3)[:, 0]
    net = Net()
    init = {k: v.clone() for k, v in net.state_dict().items()}
    cfg = ModelCfg(name="ddpnet", arch="ddpnet", clip_len=32, frame_size=4, epochs=1, batch_size=2,
                   optimizer={"name": "sgd", "lr": 0.05})
    hist = Trainer(net, cfg, TrainConfig(out_dir=os.path.join(out, "run"), seed=3)).fit(ds, ds)
    rank = int(os.environ["RANK"])
    sd = net.state_dict()
    torch.save({k: v.clone() for k, v in sd.items()}, os.path.join(out, f"weights_rank{rank}.pt"))
    changed = any(not torch.equal(init[k], sd[k]) for k in sd)
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"world": int(os.environ["WORLD_SIZE"]), "hist": hist, "changed": changed,
                   "distributed": torch.distributed.is_initialized()}, f)
''')


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2 and r0["distributed"] and r1["distributed"]
    # ShardBatchSampler: batch_size is the global batch, split across the ranks: 12 clips, batch 2 -> 6 steps on
    # every rank, one clip per rank per step
    assert r0["hist"][0]["steps"] == r1["hist"][0]["steps"] == 6
    # losses are all-reduced: every rank reports the same history
    assert r0["hist"][0]["train_loss"] == r1["hist"][0]["train_loss"]
    assert r0["hist"][0]["valid_loss"] == r1["hist"][0]["valid_loss"]
    # gradients are averaged: both replicas end with identical, trained weights
    w0 = torch.load(tmp_path / "weights_rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "weights_rank1.pt", weights_only=True)
    assert r0["changed"] and all(torch.equal(w0[k], w1[k]) for k in w0)
    # only rank 0 wrote checkpoints, under bare (not "module.") keys
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "last.pt", "model.pt"]
    ck = torch.load(run / "last.pt", weights_only=True)
    assert set(ck["model"]) == set(w0) and all(torch.equal(ck["model"][k], w0[k]) for k in w0)
