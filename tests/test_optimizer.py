"""spacy_stsn.AdamW.v1 updates exactly as torch.optim.AdamW after clip_grad_norm_ over
all parameters."""

import copy
import subprocess
import sys

import numpy
import pytest
import spacy
import torch
from spacy.training.initialize import init_nlp
from thinc.api import Config, Linear, Model, NumpyOps, PyTorchShim, registry

from spacy_stsn.ml.model import ScaledPyTorchShim
from spacy_stsn.ml.optimizer import TorchAdamW, make_torch_adamw

SETTINGS = {"beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "L2": 0.1, "grad_clip": 0.5}
HEAD_SCALE = 10.0


def tiny_model():
    """A thinc model with parameters of all three kinds spaCy's loop hands over: a plain
    PyTorchShim (as spacy-transformers' HFShim), the STSN head's ScaledPyTorchShim (own
    lr scale), a thinc-native layer."""
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 3))
    head = torch.nn.Linear(3, 2)
    native = Linear(3, 2)
    native.initialize()
    model = Model(
        "tiny",
        lambda m, X, is_train: (X, lambda dY: dY),
        layers=[native],
        shims=[
            PyTorchShim(encoder),
            ScaledPyTorchShim(head, learn_rate_scale=HEAD_SCALE),
        ],
    )
    return model, encoder, head, native


def set_gradients(encoder, head, native, seed):
    """Random gradients, large enough that the global-norm clip is active."""
    gen = torch.Generator().manual_seed(seed)
    for p in list(encoder.parameters()) + list(head.parameters()):
        p.grad = torch.randn(p.shape, generator=gen) * 3
    for name in native.param_names:
        native.set_grad(
            name, torch.randn(native.get_param(name).shape, generator=gen).numpy() * 3
        )


def native_tensors(native):
    return [torch.from_numpy(native.get_param(name)) for name in native.param_names]


def test_steps_equal_torch_adamw_after_a_global_clip():
    model, encoder, head, native = tiny_model()
    rates = [0.01, 0.004, 0.002]
    config = {"@optimizers": "spacy_stsn.AdamW.v1", "learn_rate": rates, **SETTINGS}
    optimizer = registry.resolve({"o": config})["o"]
    assert isinstance(optimizer, TorchAdamW)
    # the reference: the same initial weights, torch's own AdamW with one group per lr
    # scale
    ref_encoder, ref_head = copy.deepcopy(encoder), copy.deepcopy(head)
    ref_native = [t.clone() for t in native_tensors(native)]
    groups = [
        {"params": list(ref_encoder.parameters()) + ref_native, "scale": 1.0},
        {"params": list(ref_head.parameters()), "scale": HEAD_SCALE},
    ]
    reference = torch.optim.AdamW(
        groups, lr=rates[0], betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1
    )
    everything = [p for g in groups for p in g["params"]]
    for step, rate in enumerate(rates):
        set_gradients(encoder, head, native, seed=step)
        for mine, ref in zip(
            list(encoder.parameters()) + list(head.parameters()),
            list(ref_encoder.parameters()) + list(ref_head.parameters()),
        ):
            ref.grad = mine.grad.clone()
        for name, ref in zip(native.param_names, ref_native):
            ref.grad = torch.from_numpy(native.get_grad(name).copy())
        norm = torch.nn.utils.clip_grad_norm_(everything, SETTINGS["grad_clip"])
        assert norm > SETTINGS["grad_clip"]  # the clip is active
        for group in reference.param_groups:
            group["lr"] = rate * group["scale"]
        reference.step()

        # what spaCy's loop does: every component's finish_update ...
        model.finish_update(optimizer)
        for p in encoder.parameters():
            # gradients are zeroed, as thinc's optimizers leave them
            assert not p.grad.any()
        # the head's were taken over
        assert all(p.grad is None for p in head.parameters())
        assert not any(native.get_grad(name).any() for name in native.param_names)
        optimizer.step_schedules()  # ... then one step_schedules
        for mine, ref in zip(
            list(encoder.parameters())
            + list(head.parameters())
            + native_tensors(native),
            list(ref_encoder.parameters()) + list(ref_head.parameters()) + ref_native,
        ):
            torch.testing.assert_close(
                mine.detach(), ref.detach(), rtol=1e-5, atol=1e-7
            )
    assert optimizer.learn_rate == rates[-1]  # the schedule advanced once per step


def test_weight_decay_is_decoupled_and_scaled():
    """With a zero gradient AdamW only decays: w <- w * (1 - lr * lr_scale * L2)."""
    optimizer = make_torch_adamw(0.01, L2=0.1, grad_clip=1.0)
    weights = numpy.ones((2, 3), dtype="f")
    scaled = numpy.ones((4,), dtype="f")
    optimizer((1, "W"), weights, numpy.zeros_like(weights))
    optimizer((2, "W"), scaled, numpy.zeros_like(scaled), lr_scale=HEAD_SCALE)
    optimizer.step_schedules()
    numpy.testing.assert_allclose(weights, 1 - 0.01 * 0.1)
    numpy.testing.assert_allclose(scaled, 1 - 0.01 * HEAD_SCALE * 0.1)


def test_a_second_gradient_before_the_step_applies_the_first():
    """``nlp.update(..., sgd=optimizer)`` in a loop that never calls step_schedules
    still trains, each step once: handing a tensor over again applies the pending step
    first."""
    optimizer = make_torch_adamw(0.1, L2=0.0, grad_clip=0.0)
    weights = numpy.zeros((3,), dtype="f")
    optimizer((1, "W"), weights, numpy.ones_like(weights))
    assert not weights.any()  # collected, not applied yet
    optimizer((1, "W"), weights, numpy.ones_like(weights))
    # Adam's first step: lr * sign(g)
    numpy.testing.assert_allclose(weights, -0.1, rtol=1e-5)
    optimizer.step()
    numpy.testing.assert_allclose(weights, -0.2, rtol=1e-5)


def test_a_newer_torch_gradient_survives_a_late_step():
    """The head's shim hands its parameters over; when their next backward pass runs
    before the step (no step_schedules), the step uses the collected gradient and leaves
    the newer one for the next step."""
    head = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(head.weight)
    shim = ScaledPyTorchShim(head)
    optimizer = make_torch_adamw(0.1, L2=0.0, grad_clip=0.0)
    head.weight.grad = torch.ones(1, 2)
    shim.finish_update(optimizer)
    head.weight.grad = -torch.ones(1, 2)  # the next backward pass
    assert torch.equal(head.weight.detach(), torch.zeros(1, 2))
    shim.finish_update(optimizer)  # applies the pending step with the first gradient
    torch.testing.assert_close(head.weight.detach(), torch.full((1, 2), -0.1))
    assert head.weight.grad is None
    optimizer.step_schedules()  # the second gradient, -1: Adam moves back up
    assert (head.weight.detach() > -0.1).all()


def test_moved_weights_keep_their_adam_state():
    """A layer that replaces its weights array (e.g. loading) gets updated there, with
    its moments carried."""
    moved = make_torch_adamw(0.1, L2=0.0, grad_clip=0.0)
    kept = make_torch_adamw(0.1, L2=0.0, grad_clip=0.0)
    a, b = numpy.zeros((3,), dtype="f"), numpy.zeros((3,), dtype="f")
    for step, grad in enumerate([1.0, -3.0, 0.5]):
        if step == 2:
            a = a.copy()  # new memory, same values
        moved((1, "W"), a, numpy.full((3,), grad, dtype="f"))
        kept((1, "W"), b, numpy.full((3,), grad, dtype="f"))
        moved.step_schedules()
        kept.step_schedules()
        numpy.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"L2_is_weight_decay": False}, "L2_is_weight_decay"),
    ],
)
def test_unsupported_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        make_torch_adamw(0.001, **settings)


def test_averages_follow_thincs_moving_average():
    """``use_averages``: after each step every tensor's average moves as thinc's
    ``Ops.update_averages`` moves it, from the weights after the first step; the
    weights themselves step exactly as without averages."""
    model, encoder, head, native = tiny_model()
    plain_model, plain_encoder, plain_head, plain_native = tiny_model()
    for name in native.param_names:  # thinc's initialisation is not torch's seed
        plain_native.set_param(name, native.get_param(name).copy())
    averaging = make_torch_adamw(0.05, use_averages=True, **SETTINGS)
    plain = make_torch_adamw(0.05, **SETTINGS)
    assert plain.averages is None and not averaging.averages  # nothing averaged yet
    ops = NumpyOps()
    expected = {}
    for step in range(4):
        for m, e, h, n, opt in (
            (model, encoder, head, native, averaging),
            (plain_model, plain_encoder, plain_head, plain_native, plain),
        ):
            set_gradients(e, h, n, seed=step)
            m.finish_update(opt)
            opt.step_schedules()
        weights = {
            key: slot.param.detach().numpy().copy()
            for key, slot in averaging._slots.items()
        }
        for key, value in weights.items():
            if step == 0:
                expected[key] = value.copy()
            else:
                ops.update_averages(expected[key], value, averaging.nr_update[key])
    # 4 encoder, 2 head and 2 thinc tensors
    assert len(averaging.averages) == len(expected) == 8
    for key, value in expected.items():
        numpy.testing.assert_allclose(
            averaging.averages.average(key).numpy(), value, rtol=1e-5, atol=1e-7
        )
        # the average is not the weights: they moved on
        assert not numpy.allclose(value, averaging._slots[key].param.detach().numpy())
    for mine, ref in zip(
        list(encoder.parameters()) + list(head.parameters()) + native_tensors(native),
        list(plain_encoder.parameters())
        + list(plain_head.parameters())
        + native_tensors(plain_native),
    ):
        assert torch.equal(mine.detach(), ref.detach())


def test_applied_averages_swap_in_place_and_back():
    """Inside ``applied()`` every stepped tensor (torch and thinc-native) holds its
    average, in its own memory; re-entering swaps nothing more; leaving the outermost
    block restores the weights; a step inside is refused."""
    model, encoder, head, native = tiny_model()
    optimizer = make_torch_adamw(0.05, use_averages=True, **SETTINGS)
    for step in range(3):
        set_gradients(encoder, head, native, seed=step)
        model.finish_update(optimizer)
        optimizer.step_schedules()
    slots = optimizer._slots
    assert len(slots) == 8  # the native layer's W and b are stepped too
    before = {key: slot.param.detach().clone() for key, slot in slots.items()}
    memory = {key: slot.param.data_ptr() for key, slot in slots.items()}
    averages = optimizer.averages
    with averages.applied():
        with averages.applied():
            pass
        for key, slot in slots.items():
            assert slot.param.data_ptr() == memory[key]
            assert torch.equal(slot.param.detach(), averages.average(key))
        # the thinc layer reads the average through its own array
        numpy.testing.assert_array_equal(
            native.get_param("W"),
            averages.average(
                [k for k in slots if k[0] == native.id and k[1] == "W"][0]
            ).numpy(),
        )
        set_gradients(encoder, head, native, seed=9)
        model.finish_update(optimizer)
        inside = {key: slot.param.detach().clone() for key, slot in slots.items()}
        with pytest.raises(RuntimeError, match="applied"):
            optimizer.step_schedules()
        # refused before it stepped anything
        assert all(torch.equal(slot.param, inside[key]) for key, slot in slots.items())
    for key, slot in slots.items():
        assert torch.equal(slot.param.detach(), before[key])


def test_spacy_scores_and_saves_the_transformers_averages(
    tmp_path, conll04_records, tiny_bert
):
    """spaCy's loop scores and saves inside ``nlp.use_params(optimizer.averages)``: the
    ``stsn`` component applies the averages to every tensor the optimizer steps, so the
    saved pipeline's transformer and head weights are the averages (thinc's own lookups
    would miss the transformer's), and the live weights come back after the block."""
    from stsn_dev.pipelines import (
        LISTENER,
        TRAIN_CONFIG,
        TRANSFORMER,
        _write_corpus,
        examples_from_corpus,
    )

    text = TRAIN_CONFIG.format(
        tok2vec=LISTENER, steps=3, learn_rate=0.01, pipeline='["transformer","stsn"]'
    ) + TRANSFORMER.format(name=tiny_bert)
    corpus = _write_corpus(tmp_path, conll04_records[:6])
    config = Config().from_str(
        text,
        overrides={
            "paths.train": str(corpus),
            "paths.dev": str(corpus),
            "training.optimizer.@optimizers": "spacy_stsn.AdamW.v1",
            "training.optimizer.use_averages": True,
        },
    )
    nlp = init_nlp(spacy.util.load_model_from_config(config, auto_fill=True).config)
    optimizer = nlp.config["training"]["optimizer"]
    optimizer = registry.resolve({"o": optimizer})["o"]
    examples = examples_from_corpus(nlp, corpus)
    for _ in range(3):
        nlp.update(examples, sgd=False)
        for _name, proc in nlp.pipeline:
            proc.finish_update(optimizer)
        optimizer.step_schedules()

    def torch_weights(pipeline):
        shims = [
            shim
            for name in ("transformer", "stsn")
            for node in pipeline.get_pipe(name).model.walk()
            for shim in node.shims
        ]
        return {
            (i, key): value.detach().clone()
            for i, shim in enumerate(shims)
            for key, value in shim._model.named_parameters()
        }, shims

    live, shims = torch_weights(nlp)
    averaged = {
        (i, name): optimizer.averages.average((shim.id, name))
        for i, shim in enumerate(shims)
        for name, _ in shim._model.named_parameters()
        if (shim.id, name) in optimizer._slots
    }
    assert len(averaged) > 20 and any(i == 0 for i, _ in averaged)  # the transformer's
    with nlp.use_params(optimizer.averages):
        nlp.to_disk(tmp_path / "averaged")
        inside, _ = torch_weights(nlp)
    after, _ = torch_weights(nlp)
    saved, _ = torch_weights(spacy.load(tmp_path / "averaged"))
    for key, value in averaged.items():
        assert torch.equal(inside[key], value), key
        assert torch.equal(saved[key], value), key
        assert not torch.equal(live[key], value), key  # averaging changed something
    assert all(torch.equal(after[key], live[key]) for key in live)


def test_resolves_from_a_config_without_importing_the_package():
    """The entry point in setup.py: ``spacy train`` finds the optimizer with no
    ``--code``."""
    code = (
        "import sys; from thinc.api import registry; assert 'spacy_stsn' not in sys.modules; "
        "o = registry.resolve({'o': {'@optimizers': 'spacy_stsn.AdamW.v1', 'learn_rate': 0.1}})['o']; "
        "print(type(o).__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "TorchAdamW"


@pytest.mark.parametrize("encoder", ["transformer", "cnn"])
def test_spacy_train_updates_every_parameter(
    tmp_path, conll04_records, tiny_bert, encoder
):
    """spaCy's training loop with the optimizer: a few steps change every parameter that
    gets a gradient, the transformer's and the head's (torch) and the CNN tok2vec's
    (thinc-native)."""
    from stsn_dev.pipelines import CNN_TOK2VEC, LISTENER, TRANSFORMER, train_pipeline

    if encoder == "transformer":
        tok2vec, extra, pipeline = (
            LISTENER,
            TRANSFORMER.format(name=tiny_bert),
            '["transformer","stsn"]',
        )
    else:
        tok2vec, extra, pipeline = CNN_TOK2VEC, "", '["stsn"]'
    model_dir, _ = train_pipeline(
        tmp_path,
        conll04_records[:8],
        tok2vec,
        4,
        0.01,
        extra=extra,
        pipeline=pipeline,
        optimizer="spacy_stsn.AdamW.v1",
    )
    trained = spacy.load(model_dir)
    assert (
        trained.config["training"]["optimizer"]["@optimizers"] == "spacy_stsn.AdamW.v1"
    )
    config = trained.config.copy()
    config["paths"]["train"] = config["paths"]["dev"] = str(tmp_path / "train.spacy")
    initial = init_nlp(config)  # the same seed: the weights before the first step
    for name in trained.pipe_names:
        before, after = (
            parameters(initial.get_pipe(name).model),
            parameters(trained.get_pipe(name).model),
        )
        unchanged = [
            key for key, value in before.items() if numpy.array_equal(value, after[key])
        ]
        # BERT's pooler is not used by the listener, so it never gets a gradient
        assert (
            len(before) > 4 and [k for k in unchanged if ".pooler." not in k] == []
        ), name


def test_spacy_train_saves_averages_when_asked(tmp_path, conll04_records, tiny_bert):
    """``spacy train`` with ``use_averages = true``: the same seed trains the same
    weights, and the saved transformer and head are their averages, not the last
    weights (the averages' values are checked exactly in the test above)."""
    from stsn_dev.pipelines import LISTENER, TRANSFORMER, train_pipeline

    saved = {}
    for averages in (False, True):
        folder = tmp_path / str(averages)
        folder.mkdir()
        model_dir, _ = train_pipeline(
            folder,
            conll04_records[:6],
            LISTENER,
            4,
            0.01,
            extra=TRANSFORMER.format(name=tiny_bert),
            pipeline='["transformer","stsn"]',
            optimizer="spacy_stsn.AdamW.v1",
            overrides={"training.optimizer.use_averages": averages},
        )
        trained = spacy.load(model_dir)
        assert trained.config["training"]["optimizer"]["use_averages"] is averages
        saved[averages] = {
            name: parameters(trained.get_pipe(name).model)
            for name in ("transformer", "stsn")
        }
    for name, plain in saved[False].items():
        differ = [
            key
            for key, value in plain.items()
            if not numpy.array_equal(value, saved[True][name][key])
        ]
        assert len(differ) > 4, name


def parameters(model):
    """Every parameter of a thinc model as numpy, torch ones (inside shims) included, by
    a stable name."""
    found = {}
    for i, node in enumerate(model.walk()):
        for name in node.param_names:
            if node.has_param(name):
                found[f"{i}.{node.name}.{name}"] = node.get_param(name).copy()
        for j, shim in enumerate(node.shims):
            for key, value in shim._model.named_parameters():
                found[f"{i}.{j}.{key}"] = value.detach().numpy().copy()
    return found
