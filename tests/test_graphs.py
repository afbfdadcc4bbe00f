"""Whole-step CUDA graphs (mmdc_lib/graphs.py): their bookkeeping checked on the CPU with an emulated capture.

A CUDA capture records a step without running it and each replay reruns the recorded kernels on the graph's
static tensors. The emulation below runs the step at capture and undoes its effects on the model and the
optimiser, and each replay runs it again on the same static tensors: what the trainer copies in, reads out,
warms up and captures afresh is then checked bit for bit against the plain trainer. The GPU itself is
checked in tests/test_gpu.py (skipped without CUDA).
"""
from pathlib import Path

import pytest
import torch

from mmdc_lib.config import preset
from mmdc_lib.graphs import StepGraphs, emulated_capture
from mmdc_lib.step import train_step
from mmdc_lib.train import Trainer

from test_train import authors_pipeline_run, small_run

ROOT = Path(__file__).resolve().parents[1]


def graphed(trainer: Trainer) -> Trainer:
    capture = emulated_capture(trainer.model, trainer.optimizer)
    trainer.step_graphs = StepGraphs(trainer.model, trainer.optimizer, capture=capture)
    return trainer


def captured_kinds_and_batch_sizes(graphs: StepGraphs) -> set[tuple[str, int]]:
    """(kind, batch size of its first input) of every graph kept in its captured state (tests/test_gpu.py too)."""
    return {(key[0], next(shape[0][0] for shape in key[2] if shape is not None))
            for key, graph in graphs.graphs.items() if graph.replay is not None}


def assert_same_run(a, b):
    for key in ("mse", "rotation_loss", "fit", "lr", "cluster_sizes"):
        assert [e[key] for e in a.history] == [e[key] for e in b.history], key
    assert torch.equal(a.embeddings, b.embeddings)
    for p, q in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("rotation", ["joint", "alternating"])
def test_a_graphed_trainer_trains_bit_for_bit_as_the_plain_one(rotation):
    config, images, _ = small_run()  # 200 digits, batches of 64 and a last one of 8: two shapes
    config.rotation, config.epochs, config.lr_milestones, config.refine_epoch = rotation, 4, (2,), 3
    plain = Trainer(config, images, device="cpu", progress=False).fit()
    trainer = graphed(Trainer(config, images, device="cpu", progress=False))
    result = trainer.fit()
    assert_same_run(result, plain)
    graphs = trainer.step_graphs
    assert graphs.replays > 0 and graphs.captures >= 2


def test_the_authors_schedule_with_a_warmup_trains_graphed_as_plain():
    config, images = authors_pipeline_run()  # alternating, refinement from epoch 1, mean MSE, 64 colour images
    config.refine_epoch, config.warmup_epochs, config.epochs = 3, 1, 4
    plain = Trainer(config, images, device="cpu", progress=False).fit()
    result = graphed(Trainer(config, images, device="cpu", progress=False)).fit()
    assert_same_run(result, plain)


def test_graphs_are_captured_once_per_shape_and_afresh_for_a_new_learning_rate():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    graphs = StepGraphs(model, optimizer, capture=emulated_capture(model, optimizer), warmup_calls=2)
    wrapped = lambda views: graphs.train_step(model, optimizer, views, torch.zeros(len(views), 2))  # noqa: E731
    for _ in range(5):
        wrapped(torch.ones(4, 3))
    assert (graphs.captures, graphs.replays) == (1, 3)  # 2 warm-up calls, then captured once and replayed
    wrapped(torch.ones(2, 3))  # another batch size: warms up a graph of its own
    assert len(graphs.graphs) == 2 and graphs.captures == 1
    optimizer.param_groups[0]["lr"] = 0.01  # a milestone: the old rate's graphs are dropped at the next new key
    wrapped(torch.ones(4, 3))
    assert len(graphs.graphs) == 1 and graphs.replays == 3
    for _ in range(2):  # a second warm-up call, then a capture at the new rate
        wrapped(torch.ones(4, 3))
    assert (graphs.captures, graphs.replays) == (2, 4)


def test_graphed_steps_compute_the_plain_steps_losses_and_updates():
    torch.manual_seed(0)
    models = [torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)]
    models[1].load_state_dict(models[0].state_dict())
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in models]
    graphs = StepGraphs(models[1], optimizers[1], capture=emulated_capture(models[1], optimizers[1]), warmup_calls=1)
    for step in range(4):
        views, targets = torch.randn(5, 3), torch.randn(5, 2)
        expected = train_step(models[0], optimizers[0], views, targets)
        got = graphs.train_step(models[1], optimizers[1], views, lambda: targets)  # targets as a function, too
        assert all(torch.equal(a, b) for a, b in zip(got, expected)), step
    assert graphs.replays == 3 and torch.equal(models[0].weight, models[1].weight)


@pytest.mark.parametrize("warmup_calls", [0, -1, 1.5, True])
def test_graphs_need_at_least_one_warmup_call(warmup_calls):
    model = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match=f"warmup_calls={warmup_calls!r} should be an integer >= 1"):
        StepGraphs(model, torch.optim.SGD(model.parameters(), lr=0.1), warmup_calls=warmup_calls)


def test_the_clean_forward_leaves_the_models_mode_as_it_was():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    graphs = StepGraphs(model, optimizer, capture=emulated_capture(model, optimizer), warmup_calls=1)
    before = model[1].running_mean.clone()
    for _ in range(3):  # a warm-up call, the capture, replays
        model.train()
        graphs.embed(torch.randn(4, 3))
        assert model.training
    assert graphs.captures == 1 and torch.equal(model[1].running_mean, before)  # eval mode inside: statistics kept


def test_graphed_steps_refuse_another_model():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    graphs = StepGraphs(model, optimizer)
    with pytest.raises(ValueError, match="needs the model and optimiser the graphs were made for"):
        graphs.train_step(torch.nn.Linear(3, 2), optimizer, torch.ones(2, 3), torch.zeros(2, 2))


def test_cuda_graphs_on_a_cpu_is_refused_naming_the_device():
    config, images, _ = small_run()
    with pytest.raises(ValueError, match="cuda_graphs=True needs a CUDA device; the device here is 'cpu'"):
        Trainer(config, images, device="cpu", cuda_graphs=True)


def test_cuda_graphs_with_compile_is_refused():
    config, images, _ = small_run()
    with pytest.raises(ValueError, match="cuda_graphs=True and compile cannot be combined; choose one"):
        Trainer(config, images, device="cpu", cuda_graphs=True, compile=True)


def test_cuda_graphs_under_torchrun_is_refused_naming_the_processes(monkeypatch):
    import mmdc_lib.train

    monkeypatch.setattr(mmdc_lib.train, "world_size", lambda: 2)
    config, images, _ = small_run()
    with pytest.raises(ValueError, match=r"cuda_graphs=True runs in one process; this one is one of 2 \(torchrun\)"):
        Trainer(config, images, device="cpu", cuda_graphs=True)


def test_cuda_graphs_must_be_a_bool():
    config, images, _ = small_run()
    with pytest.raises(TypeError, match="cuda_graphs should be True or False, got 'yes'"):
        Trainer(config, images, device="cpu", cuda_graphs="yes")


def test_the_cifar10_preset_trains_graphed_as_plain_on_a_tiny_set():
    config = preset("cifar10")  # ResNet-18 with BatchNorm, alternating rotation, authors' pipeline
    config.epochs, config.batch_size, config.lr_milestones, config.refine_epoch, config.input_size = 2, 8, (1,), None, 16
    images = torch.randint(0, 256, (20, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    plain = Trainer(config, images, device="cpu", progress=False).fit()
    result = graphed(Trainer(config, images, device="cpu", progress=False)).fit()
    assert_same_run(result, plain)


@pytest.mark.parametrize("fails", [False, True])
def test_the_throughput_benchmark_reports_graphed_steps_and_survives_their_failure(tmp_path, monkeypatch, fails):
    """benchmarks/throughput.py --cuda-graphs, its report path run on the CPU with the emulated capture: a row and a
    ratio for the graphed steps, or, when they fail, the other figures saved, the error in the table, exit 1."""
    import sys

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # benchmarks/ is not a package
    import common
    import throughput

    class EmulatedOnTheCpu(Trainer):
        def __init__(self, *args, cuda_graphs=False, **kwargs):
            super().__init__(*args, **kwargs)
            if cuda_graphs and fails:
                raise RuntimeError("operation not permitted when stream is capturing")
            if cuda_graphs:
                graphed(self)

    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setattr(throughput, "Trainer", EmulatedOnTheCpu)
    monkeypatch.setattr(throughput, "require_cuda_for_graphs", lambda *args: None)
    monkeypatch.setattr(sys, "argv", ["throughput.py", "--device", "cpu", "--images", "48", "--network", "small",
                                      "--workers", "1", "--cuda-graphs"])
    if fails:
        with pytest.raises(SystemExit, match="1"):
            throughput.main()
    else:
        throughput.main()
    table = (tmp_path / "throughput_cifar10_cpu.md").read_text()
    assert "| library |" in table and "| reference |" in table and "Library / reference:" in table
    if fails:
        assert "| library, CUDA graphs | failed: RuntimeError: operation not permitted when stream is capturing" in table
    else:
        assert "| library, CUDA graphs |" in table and "library, CUDA graphs / reference:" in table


def test_the_short_last_batch_gets_graphs_of_its_own_and_a_new_rate_captures_afresh():
    """The schedule of tests/test_gpu.py's CUDA-graph test (500 images, batches of 64: 7 full and one of 52;
    alternating rotation; lr x0.1 after epoch 3, refinement in epoch 4) on a small network, emulated: epoch 1
    captures the full batches' rotation, clustering and clean graphs; the last batch's three, called once an
    epoch, are captured in epoch 3; epoch 4's new rate captures the full batches' two training graphs afresh
    (refinement: no clean pass), and the last batch's stay warming up. The clean graphs outlive the rate."""
    config = preset("cifar10")
    config.network, config.input_size, config.batch_size = "small", 16, 64
    config.epochs, config.lr_milestones, config.refine_epoch = 4, (3,), 3
    images = torch.randint(0, 256, (500, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    trainer = graphed(Trainer(config, images, device="cpu", progress=False))
    trainer.fit()
    graphs = trainer.step_graphs
    assert graphs.captures == 8
    assert captured_kinds_and_batch_sizes(graphs) == {("clean", 64), ("clean", 52), ("train", 4 * 64), ("train", 64)}
