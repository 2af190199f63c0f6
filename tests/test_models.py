"""The bundled CNN, RNN and memory-probe: counts checked against independent methods, tiny steps
on the CPU."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from gpuscope.workloads.api import resolve_params  # noqa: E402
from gpuscope.workloads.cnn import ResNet50  # noqa: E402
from gpuscope.workloads.memory_probe import probe_largest  # noqa: E402
from gpuscope.workloads.resnet import build_resnet50, resnet50_counts  # noqa: E402
from gpuscope.workloads.rnn import LstmLanguageModel, lstm_forward_flops_per_token  # noqa: E402


def hooked_macs(model: torch.nn.Module, image_size: int) -> int:
    """MACs measured by running the model: each conv/linear's output size times its kernel work."""
    total = 0

    def conv_hook(module: torch.nn.Conv2d, inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += kh * kw * module.in_channels * output[0].numel()  # per image: C_out*H*W outputs

    def linear_hook(module: torch.nn.Linear, inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        total += module.in_features * module.out_features

    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(conv_hook)
        elif isinstance(module, torch.nn.Linear):
            module.register_forward_hook(linear_hook)
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, image_size, image_size))
    return total


def test_resnet50_has_the_published_parameter_count_and_macs() -> None:
    params, macs = resnet50_counts(224)
    assert params == 25_557_032  # torchvision's resnet50, the "25.6 M" of the paper
    assert 4.05e9 < macs < 4.15e9  # the "4.1 GFLOPs" quoted for ResNet-50 are multiply-adds
    model = build_resnet50()
    assert sum(p.numel() for p in model.parameters()) == params


def test_resnet50_macs_formula_matches_the_built_model() -> None:
    model = build_resnet50()
    assert hooked_macs(model, 64) == resnet50_counts(64)[1]


@pytest.mark.parametrize(
    ("mode", "precision"), [("train", "fp32"), ("train", "bf16"), ("infer", "bf16")]
)
def test_cnn_steps_on_cpu(mode: str, precision: str) -> None:
    workload = ResNet50()
    params = resolve_params(
        ResNet50, {"mode": mode, "precision": precision, "batch": 2, "image_size": 32}
    )
    workload.setup("cpu", params)
    work = workload.step()
    _, macs = resnet50_counts(32)
    assert work.units == 2
    assert work.flops == 2 * macs * (3 if mode == "train" else 1) * 2
    assert workload.facts()["parameters"] == 25_557_032
    workload.teardown()


def test_cnn_training_changes_the_weights() -> None:
    workload = ResNet50()
    workload.setup(
        "cpu", resolve_params(ResNet50, {"batch": 2, "image_size": 32, "precision": "fp32"})
    )
    first = next(workload._step._model.parameters()).detach().clone()
    workload.step()
    assert not torch.equal(first, next(workload._step._model.parameters()))


def test_lstm_flops_formula_matches_its_weight_matrices() -> None:
    hidden, layers, vocab = 64, 2, 500
    workload = LstmLanguageModel()
    params = {"batch": 3, "seq": 5, "hidden": hidden, "layers": layers, "vocab": vocab}
    workload.setup("cpu", resolve_params(LstmLanguageModel, params))
    model = workload._step._model
    # Every weight-matrix element is one multiply-add per token in the forward pass.
    matrix_elements = sum(
        p.numel() for n, p in model.lstm.named_parameters() if n.startswith("weight")
    )
    matrix_elements += model.head.weight.numel()
    assert lstm_forward_flops_per_token(hidden, layers, vocab) == 2 * matrix_elements
    work = workload.step()
    assert work.units == 15 and work.flops == 3 * 2 * matrix_elements * 15


def test_probe_finds_the_largest_fitting_batch_within_one_in_32() -> None:
    tried: list[int] = []

    def fits(batch: int) -> bool:
        tried.append(batch)
        return batch <= 777

    largest, tries = probe_largest(fits, limit=65536)
    assert 777 * 31 / 32 <= largest <= 777
    assert tries == len(tried) and tried[:4] == [1, 2, 4, 8]
    assert max(tried) == 1024  # stopped doubling at the first failure


def test_probe_edges() -> None:
    assert probe_largest(lambda b: False, limit=64) == (0, 1)
    assert probe_largest(lambda b: True, limit=64)[0] == 64
