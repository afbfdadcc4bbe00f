"""GPU checks: run where CUDA is available (the lent GPU machine, Colab); skipped on CPU-only CI."""
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmdc_lib import MMDC
from mmdc_lib.augment import augment_batch
from mmdc_lib.config import preset

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")


def test_augmentation_stays_on_the_gpu():
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, device="cuda")
    out = augment_batch(images, 32, preset("cifar10").augment, torch.Generator().manual_seed(0))
    assert out.device.type == "cuda" and out.shape == (8, 3, 32, 32)


def test_estimator_trains_on_the_gpu_with_device_auto():
    images = np.random.default_rng(0).integers(0, 256, (64, 16, 16), dtype=np.uint8)
    model = MMDC(n_clusters=4, epochs=2, device="auto").fit(images)
    assert model.device_.type == "cuda" and next(model._models[0].parameters()).device.type == "cuda" and model.labels_.shape == (64,)


def test_model_fitted_on_the_gpu_unpickles_and_predicts_on_a_cpu_only_machine(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (256, 16, 16), dtype=np.uint8)
    model = MMDC(n_clusters=4, epochs=2, device="auto").fit(images)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    np.save(tmp_path / "images.npy", images)
    script = (
        "import pickle, sys, numpy as np, torch\n"
        "assert not torch.cuda.is_available()\n"
        "model = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print(model.predict(np.load(sys.argv[2])).tolist())\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model.pkl"), str(tmp_path / "images.npy")],
                            capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0, result.stderr
    # bf16 on the GPU, float32 on the CPU: a few images near a boundary may change cluster.
    assert (np.array(json.loads(result.stdout)) == model.labels_).mean() > 0.9


def test_overlapped_assignment_on_the_gpu_matches_the_cpu():
    from mmdc_lib.assignment import PendingAssignment, optimal_permutation

    generator = torch.Generator().manual_seed(0)
    embeddings, targets = torch.randn(128, 10, generator=generator), torch.eye(10)[torch.randint(10, (128,), generator=generator)]
    on_gpu = PendingAssignment(embeddings.cuda(), targets.cuda()).permutation()
    assert on_gpu.device.type == "cuda"
    # Repeated one-hot targets tie: compare the targets each image gets, not the permutation.
    assert torch.equal(targets[on_gpu.cpu()], targets[optimal_permutation(embeddings, targets)])


def test_authors_schedule_trains_and_resumes_on_the_gpu_in_bf16(tmp_path):
    from mmdc_lib.train import Trainer

    config = preset("cifar10")
    config.epochs, config.lr_milestones, config.refine_epoch, config.batch_size = 3, (2,), 1, 64
    images = torch.randint(0, 256, (512, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    config.epochs = 2  # stop after epoch 2 (refinement at epoch 1 in it), then resume to epoch 3
    first = Trainer(config, images, device="cuda", out_dir=tmp_path / "run", progress=False)
    activations = []
    first.model.backbone.layer1.register_forward_hook(lambda module, inputs, output: activations.append(output.dtype))
    first.fit()
    expected = torch.bfloat16 if torch.cuda.get_device_capability() >= (8, 0) else torch.float32
    assert activations and all(dtype == expected for dtype in activations)
    config.epochs = 3
    result = Trainer(config, images, device="cuda", out_dir=tmp_path / "run", progress=False).fit(resume=True)
    assert result.embeddings.dtype == torch.float32 and torch.isfinite(result.embeddings).all()
    assert [entry["epoch"] for entry in result.history] == [1, 2, 3] and result.history[-1]["rotation_loss"] > 0


def test_command_line_trains_and_reproduces_on_the_gpu(tmp_path):
    """The researcher's path end to end on CUDA: `train` (metrics, checkpoint, figures) and `reproduce` (the table)."""
    import csv

    command = [sys.executable, "-m", "mmdc_lib"]
    trained = subprocess.run([*command, "train", "--dataset", "digits", "--epochs", "3", "--device", "cuda", "--no-progress",
                              "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["device"].startswith("cuda") and len(metrics["history"]) == 3 and metrics["acc"] > 0.2
    assert (tmp_path / "run" / "checkpoint.pt").exists() and list((tmp_path / "run").glob("*.png"))
    table = subprocess.run([*command, "reproduce", "--datasets", "digits", "--seeds", "0", "1", "--epochs", "2", "--device", "cuda",
                            "--no-progress", "--out", str(tmp_path / "table")], capture_output=True, text=True, timeout=300)
    assert table.returncode == 0, table.stderr
    rows = list(csv.DictReader(open(tmp_path / "table" / "results.csv")))
    assert [(row["seed"], row["status"], row["device"][:4]) for row in rows] == [("0", "trained", "cuda"), ("1", "trained", "cuda")]


def test_whole_step_cuda_graphs_train_as_the_plain_steps_and_replay(tmp_path):
    """The authors' schedule (alternating rotation, refinement, a milestone, a short last batch) with its steps
    replayed from CUDA graphs: the graphs tests/test_graphs.py counts on the CPU for this schedule are captured
    here, the first epoch's losses are the plain steps' up to GPU rounding, and a stopped run resumes."""
    from mmdc_lib.train import Trainer
    from test_graphs import captured_kinds_and_batch_sizes

    config = preset("cifar10")  # ResNet-18, bf16 on an H100/H200
    config.epochs, config.lr_milestones, config.refine_epoch, config.batch_size = 4, (3,), 3, 64
    images = torch.randint(0, 256, (500, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    plain = Trainer(config, images, device="cuda", progress=False).fit()
    trainer = Trainer(config, images, device="cuda", progress=False, cuda_graphs=True)
    result = trainer.fit()
    graphs = trainer.step_graphs
    assert graphs.captures == 8 and graphs.replays > 0
    assert captured_kinds_and_batch_sizes(graphs) == {("clean", 64), ("clean", 52), ("train", 4 * 64), ("train", 64)}
    # The first epoch's mean losses: the same steps up to GPU rounding (later epochs drift apart, as two plain runs do)
    first, expected = result.history[0], plain.history[0]
    assert (first["mse"], first["rotation_loss"]) == pytest.approx((expected["mse"], expected["rotation_loss"]), rel=0.02)
    assert all(torch.isfinite(torch.tensor([e["mse"], e["rotation_loss"], e["fit"]])).all() for e in result.history)
    config.epochs = 2
    Trainer(config, images, device="cuda", out_dir=tmp_path, progress=False, cuda_graphs=True).fit()
    config.epochs = 4
    resumed = Trainer(config, images, device="cuda", out_dir=tmp_path, progress=False, cuda_graphs=True).fit(resume=True)
    assert [entry["epoch"] for entry in resumed.history] == [1, 2, 3, 4] and torch.isfinite(resumed.embeddings).all()


def test_a_replayed_step_updates_the_weights_as_the_plain_step_in_float32(monkeypatch):
    from mmdc_lib.graphs import StepGraphs
    from mmdc_lib.models import MMDCNet
    from mmdc_lib.step import train_step

    for flags, name, value in [(torch.backends.cudnn, "benchmark", False), (torch.backends.cudnn, "allow_tf32", False),
                               (torch.backends.cuda.matmul, "allow_tf32", False)]:  # the same kernels, full float32
        monkeypatch.setattr(flags, name, value)
    torch.manual_seed(0)
    models = [MMDCNet("small", 3, 10, 32).cuda() for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, fused=True) for m in models]
    graphs = StepGraphs(models[1], optimizers[1], warmup_calls=1)
    for _ in range(4):  # one warm-up call, a capture, three replays
        views, targets = torch.randn(16, 3, 32, 32, device="cuda"), torch.randn(16, 10, device="cuda")
        rotated, labels = torch.randn(64, 3, 32, 32, device="cuda"), torch.randint(4, (64,), device="cuda")
        expected = train_step(models[0], optimizers[0], views, targets, rotated, labels)
        got = graphs.train_step(models[1], optimizers[1], views, targets, rotated, labels)
        assert torch.allclose(torch.stack(got), torch.stack(expected), rtol=1e-4, atol=1e-5)
    assert graphs.captures == 1 and graphs.replays == 3
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-5)
