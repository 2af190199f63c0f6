"""A 2-layer LSTM language model training step on synthetic tokens: the unit of work is a token.

FLOPs per token, forward: each LSTM layer does 4 gates of (input and recurrent) matrix products,
8·h·(in + h); the output projection adds 2·h·vocab. A training step is counted as 3x forward.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpuscope.workloads.api import Param, Work, Workload, WorkloadError
from gpuscope.workloads.training import PRECISIONS, ModelStep


def lstm_forward_flops_per_token(hidden: int, layers: int, vocab: int) -> float:
    recurrent = sum(8.0 * hidden * (hidden + hidden) for _ in range(layers))  # input dim = hidden
    return recurrent + 2.0 * hidden * vocab


class LstmLanguageModel(Workload):
    name = "rnn"
    description = "2-layer LSTM language model training (hidden 1024, seq 128)"
    devices = ("cpu", "cuda", "rocm")
    unit = "tokens"
    params = (
        Param(
            "precision",
            "fp32",
            "autocast dtype, or fp32 (cuDNN LSTM)",
            choices=PRECISIONS,
            precision=True,
        ),
        # a step of 2 sequences (256 tokens) takes 0.7 s on 2 AVX2 cores; 64 took 13 s
        Param("batch", 64, "sequences per step", minimum=1, device_defaults={"cpu": 2}),
        Param("seq", 128, "tokens per sequence", minimum=1),
        Param("hidden", 1024, "LSTM hidden size (and embedding size)", minimum=1),
        Param("layers", 2, "stacked LSTM layers", minimum=1),
        Param("vocab", 10000, "vocabulary size of the embedding and output projection", minimum=1),
    )

    def setup(self, device: str, params: Mapping[str, Any]) -> None:
        import torch
        from torch import nn

        batch, seq = int(params["batch"]), int(params["seq"])
        hidden, layers, vocab = int(params["hidden"]), int(params["layers"]), int(params["vocab"])
        if min(batch, seq, hidden, layers, vocab) < 1:
            raise WorkloadError("batch, seq, hidden, layers and vocab must all be at least 1")

        class Model(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.embed = nn.Embedding(vocab, hidden)
                self.lstm = nn.LSTM(hidden, hidden, layers, batch_first=True)
                self.head = nn.Linear(hidden, vocab)

            def forward(self, tokens: Any) -> Any:
                out, _ = self.lstm(self.embed(tokens))
                return self.head(out).flatten(0, 1)

        self._tokens = torch.randint(0, vocab, (batch, seq), device=device)
        self._targets = torch.randint(0, vocab, (batch * seq,), device=device)
        self._step = ModelStep(
            Model().to(device),
            nn.functional.cross_entropy,
            device,
            str(params["precision"]),
            "train",
        )
        self._units = batch * seq
        self._flops = 3.0 * lstm_forward_flops_per_token(hidden, layers, vocab) * self._units

    def step(self) -> Work:
        self._step(self._tokens, self._targets)
        return Work(units=self._units, flops=self._flops)

    def teardown(self) -> None:
        for name in ("_step", "_tokens", "_targets"):
            self.__dict__.pop(name, None)
