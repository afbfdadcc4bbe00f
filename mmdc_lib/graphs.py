"""Whole-step CUDA graphs: a training step (forward, loss, backward and the SGD step) launched as one graph.

Why: on a GPU at batch 128 the host's kernel launches, not the GPU, set the pace (one H200,
``benchmarks/results/profile_epoch_cifar10_gpu.txt``: the GPU busy 16% of an epoch, about 600 launches a
step). ``torch.compile``'s "reduce-overhead" graphs the network's forward and backward passes only (1.25x
there); here the loss and the optimiser's step are inside the graph too, and the clean view's forward pass
(the Hungarian step's input) is a graph of its own.

How (PyTorch's "whole-network capture", torch.cuda.graph):

- one graph per kind of call ("train" or "clean"), input shapes, loss settings and, for "train", the
  learning rates: fused SGD takes its rate as a constant, so a new rate (a MultiStepLR milestone) captures
  afresh and the graphs of the old rate are dropped. The last, shorter batch of an epoch has graphs of its own;
- the first ``warmup_calls`` calls of each graph run eagerly on a side stream, as PyTorch asks: real training
  steps, during which cuDNN picks its kernels and SGD makes its momentum buffers;
- the next call captures the step (capturing records, runs nothing), then every call copies its inputs into
  the graph's static tensors and replays it. The targets (the Hungarian step, scipy on the CPU) are computed
  before the copy, so the GPU waits for scipy here, where the plain step overlaps it with the forward pass.

The computation is ``step.train_step``'s, unchanged. On the CPU ``emulated_capture`` (the step run, its effects
undone) checks the bookkeeping: a trainer with it trains bit for bit as the plain one (tests/test_graphs.py).
Single process only (no DistributedDataParallel), without ``torch.compile``; autocast without its weight
cache, as captures need (``autocast_for(..., cache_enabled=False)``).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from .step import Targets, train_step

WARMUP_CALLS = 2  # eager calls of each graph before its capture (PyTorch's whole-network example warms up with 3)

# A capture: given a function returning a tuple of tensors, (replay, those tensors, which each replay overwrites).
Capture = Callable[[Callable[[], tuple]], tuple[Callable[[], None], tuple]]


def check_cuda_graphs(device: torch.device, compile: bool | str, processes: int, flag: str = "cuda_graphs=True",
                      compile_flag: str = "compile") -> None:
    """Whole-step graphs need one CUDA device in one process, without torch.compile: ValueError naming ``flag``
    otherwise (the trainer's spelling by default; the command line passes "--cuda-graphs", "--compile")."""
    if compile:
        raise ValueError(f"{flag} and {compile_flag} cannot be combined; choose one.")
    if processes > 1:
        raise ValueError(f"{flag} runs in one process; this one is one of {processes} (torchrun).")
    if device.type != "cuda":
        raise ValueError(f"{flag} needs a CUDA device; the device here is '{device}'.")


def _autocasting(autocast: Optional[contextlib.AbstractContextManager]) -> bool:
    """Whether ``autocast`` casts (a graph's kernels differ with it), not None or a nullcontext."""
    return autocast is not None and not isinstance(autocast, contextlib.nullcontext)


def cuda_capture(function: Callable[[], tuple]) -> tuple[Callable[[], None], tuple]:
    """Record ``function``'s kernels in a CUDA graph: (replay, the outputs that each replay overwrites)."""
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = function()
    return graph.replay, outputs


def emulated_capture(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     on_replay: Optional[Callable[[Callable[[], None]], None]] = None) -> Capture:
    """A CPU stand-in for ``cuda_capture`` (tests; counting what a GPU would launch): capturing runs the function
    and undoes its effects on the model's parameters and buffers and the optimiser's state, as a capture that
    only records would leave them; each replay runs it again, at the learning rates of the capture (a CUDA graph
    holds them as constants), and writes into the first outputs.
    ``on_replay(run)``, if given, wraps each replay: it is called with the replay's work and must run it
    (a counter's hook)."""

    def capture(function: Callable[[], tuple]) -> tuple[Callable[[], None], tuple]:
        tensors = list(model.state_dict(keep_vars=True).values())  # parameters and BatchNorm buffers
        saved = [tensor.detach().clone() for tensor in tensors]
        state = {parameter: dict(entries) for parameter, entries in optimizer.state.items()}
        state_values = {parameter: {key: value.clone() for key, value in entries.items() if torch.is_tensor(value)}
                        for parameter, entries in state.items()}
        rates = [group["lr"] for group in optimizer.param_groups]
        outputs = function()
        with torch.no_grad():
            for tensor, value in zip(tensors, saved):
                tensor.copy_(value)
            for parameter in [p for p in optimizer.state if p not in state]:
                del optimizer.state[parameter]
            for parameter, entries in state.items():
                optimizer.state[parameter] = entries
                for key, value in state_values[parameter].items():
                    entries[key].copy_(value)

        def run() -> None:
            now = [group["lr"] for group in optimizer.param_groups]
            for group, rate in zip(optimizer.param_groups, rates):
                group["lr"] = rate
            try:
                values = function()
            finally:
                for group, rate in zip(optimizer.param_groups, now):
                    group["lr"] = rate
            for static, value in zip(outputs, values):
                static.copy_(value)

        return (run if on_replay is None else lambda: on_replay(run)), outputs

    return capture


@dataclass
class _Graph:
    """One graph's state: warming up (``replay`` None) or captured."""

    calls: int = 0  # eager calls so far (warm-up)
    replay: Optional[Callable[[], None]] = None
    inputs: tuple = ()  # static tensors (or None) that each replay reads
    outputs: tuple = ()  # static tensors that each replay overwrites


def _shapes(*tensors: Optional[torch.Tensor]) -> tuple:
    """What a graph's inputs must keep: each tensor's (shape, dtype, device), None for an absent one."""
    return tuple(None if t is None else (tuple(t.shape), t.dtype, t.device) for t in tensors)


class StepGraphs:
    """The training step and the clean forward pass of one model and its optimiser, replayed from graphs.

    ``train_step`` takes ``step.train_step``'s arguments and returns the same ``(mse, rotation)``; ``embed``
    is the model's eval-mode forward pass without gradients. ``capture`` records a function (``cuda_capture``
    on a GPU; tests pass an emulation). ``captures`` and ``replays`` count what happened (tests, benchmarks).
    After a replay the parameters' ``.grad`` are not this step's gradients (a replay writes the graph's own
    tensors): read gradients inside the step, never after it.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, capture: Capture = cuda_capture,
                 warmup_calls: int = WARMUP_CALLS):
        if isinstance(warmup_calls, bool) or not isinstance(warmup_calls, int) or warmup_calls < 1:
            # a first step captured as it is would replay its one-time work (SGD making its momentum buffers) forever
            raise ValueError(f"warmup_calls={warmup_calls!r} should be an integer >= 1.")
        self.model, self.optimizer, self.capture, self.warmup_calls = model, optimizer, capture, warmup_calls
        self.graphs: dict[tuple, _Graph] = {}
        self.captures = 0
        self.replays = 0

    def clear(self) -> None:
        """Forget every graph (after the optimiser's state tensors were replaced, e.g. by a checkpoint's)."""
        self.graphs.clear()

    def _rates(self) -> tuple[float, ...]:
        return tuple(group["lr"] for group in self.optimizer.param_groups)

    def _eager(self, function: Callable[..., tuple], inputs: tuple) -> tuple:
        """A warm-up call: on a side stream on a GPU (as PyTorch's capture examples), synchronised before and
        after (a few times a run), so no memory is shared across streams unseen."""
        if not any(t is not None and t.is_cuda for t in inputs):
            return function(*inputs)
        torch.cuda.synchronize()
        with torch.cuda.stream(torch.cuda.Stream()):
            outputs = function(*inputs)
        torch.cuda.synchronize()
        return outputs

    def _run(self, key: tuple, function: Callable[..., tuple], inputs: tuple) -> tuple:
        """``function(*inputs)``: eagerly while the graph of ``key`` warms up, then replayed from it.

        Returns copies of the graph's outputs (the next replay overwrites them)."""
        entry = self.graphs.get(key)
        if entry is None:  # a new key: the graphs trained at another learning rate are never replayed again
            rates = self._rates()
            for old in [old for old in self.graphs if old[0] == "train" and old[1] != rates]:
                del self.graphs[old]
            entry = self.graphs[key] = _Graph()
        if entry.replay is None and entry.calls < self.warmup_calls:
            entry.calls += 1
            return self._eager(function, inputs)
        if entry.replay is None:
            entry.inputs = tuple(None if t is None else t.clone() for t in inputs)  # clone keeps the memory format
            entry.replay, entry.outputs = self.capture(lambda: function(*entry.inputs))
            self.captures += 1
        with torch.no_grad():
            for static, value in zip(entry.inputs, inputs):
                if static is not None:
                    static.copy_(value)
        entry.replay()
        self.replays += 1
        return tuple(output.clone() for output in entry.outputs)

    def train_step(
        self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, views: Optional[torch.Tensor],
        targets: Optional[Targets], rotated: Optional[torch.Tensor] = None,
        rotation_labels: Optional[torch.Tensor] = None, *, rotation_weight: float = 0.5, mse_reduction: str = "sum",
        autocast: Optional[contextlib.AbstractContextManager] = None, loss_scale: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``step.train_step`` with the same arguments (``model`` and ``optimizer`` must be this object's):
        views (B, C, S, S), targets (B, d) or a function returning them (called first, here), rotated
        (R, C, S, S), rotation_labels (R,). Returns ``(mse, rotation)``, float32 scalars on the device."""
        if model is not self.model or optimizer is not self.optimizer:
            raise ValueError("StepGraphs.train_step needs the model and optimiser the graphs were made for.")
        batch_targets = targets() if callable(targets) else targets
        key = ("train", self._rates(), _shapes(views, batch_targets, rotated, rotation_labels), rotation_weight,
               mse_reduction, loss_scale, _autocasting(autocast))

        def step(views, batch_targets, rotated, rotation_labels):
            return train_step(model, optimizer, views, batch_targets, rotated, rotation_labels,
                              rotation_weight=rotation_weight, mse_reduction=mse_reduction, autocast=autocast,
                              loss_scale=loss_scale)

        mse, rotation = self._run(key, step, (views, batch_targets, rotated, rotation_labels))
        return mse, rotation

    def embed(self, views: torch.Tensor, autocast: Optional[contextlib.AbstractContextManager] = None) -> torch.Tensor:
        """The model's embeddings (B, d) of ``views`` (B, C, S, S), in eval mode, without gradients."""

        def forward(views):
            was_training = self.model.training
            self.model.eval()
            with torch.no_grad(), autocast if autocast is not None else contextlib.nullcontext():
                embeddings = self.model(views)
            self.model.train(was_training)
            return (embeddings,)

        return self._run(("clean", None, _shapes(views), _autocasting(autocast)), forward, (views,))[0]
