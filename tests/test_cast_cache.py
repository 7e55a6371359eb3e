"""Weights cast once for inference under autocast (spacy_stsn.nn.cast_cache): the same
numbers as autocast's own casts, and never a stale copy after the weights change."""

import copy

import torch
from torch import nn

from spacy_stsn.nn.cast_cache import cast_once, cast_weight, invalidate


def bf16_inference():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def test_a_cast_copy_is_reused_until_the_weight_changes() -> None:
    weight = nn.Parameter(torch.randn(8, 4))
    assert cast_weight(weight) is weight  # no autocast
    with torch.inference_mode(), bf16_inference():
        first = cast_weight(weight)
        assert first.dtype == torch.bfloat16 and cast_weight(weight) is first
        double = weight.detach().double()  # autocast leaves float64 alone
        assert cast_weight(double) is double
    with bf16_inference():  # gradients recorded: autocast casts, as in training
        assert cast_weight(weight) is weight

    def copy_after(change) -> torch.Tensor:
        change()
        with torch.inference_mode(), bf16_inference():
            return cast_weight(weight)

    # the fused AdamW of spacy_stsn.ml.optimizer updates in place without bumping the
    # tensor's version: the optimizer step hook forgets the copies
    weight.grad = torch.ones_like(weight)
    stepped = copy_after(torch.optim.AdamW([weight], lr=0.1, fused=True).step)
    assert stepped is not first
    assert torch.equal(stepped, weight.detach().bfloat16())
    # thinc's optimizers replace .data (training passes call invalidate)
    replaced = copy_after(
        lambda: [setattr(weight, "data", weight.data * 2), invalidate()]
    )
    assert torch.equal(replaced, weight.detach().bfloat16())
    # an in-place write (load_state_dict, parameter averages) bumps the version
    with torch.no_grad():
        loaded = copy_after(lambda: weight.copy_(torch.zeros(8, 4)))
    assert not loaded.any()


def test_cast_once_layers_compute_as_autocast_does() -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    plain = copy.deepcopy(module)
    cast_once(module)
    x = torch.randn(4, 6, requires_grad=True)
    for _ in range(2):  # the second pass reads the kept copies
        with torch.inference_mode(), bf16_inference():
            assert torch.equal(module(x), plain(x))
    # training: the same outputs and gradients as the plain layers
    with bf16_inference():
        out, ref = module(x), plain(x)
    assert torch.equal(out, ref)
    grads = torch.autograd.grad(out.float().sum(), [x, module[0].weight])
    ref_grads = torch.autograd.grad(ref.float().sum(), [x, plain[0].weight])
    assert all(torch.equal(a, b) for a, b in zip(grads, ref_grads))
