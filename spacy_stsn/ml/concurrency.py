"""Predicting from several threads with one pipeline.

Thinc's ``PyTorchShim.predict`` switches its PyTorch module to eval mode, runs it, and
switches it back to train mode. When two threads predict with one ``nlp``, one thread's
switch back lands while the other is still inside the module: the rest of that pass runs
in train mode, with dropout, and its predictions change (entity labels too, in float32
as in bfloat16). spacy-transformers' transformer runs through that method, so two
threads calling ``nlp.pipe`` on one pipeline got different results from one thread.

:func:`make_shim_thread_safe` gives a shim a ``predict`` that puts the module in eval
mode when it is not (every thread sets the same state) and never switches it back:
thinc's ``begin_update`` switches to train mode itself, so training is unchanged. The
``stsn`` factory applies it to every PyTorch model of the pipeline it joins, and the
precision callback (:mod:`spacy_stsn.ml.precision`) to every one it reaches.
"""

import functools
from typing import Any

import torch
from spacy.language import Language
from thinc.api import ArgsKwargs, Model, PyTorchShim

from .encoder_batches import predict_by_length


def predict_in_eval_mode(shim: PyTorchShim, inputs: ArgsKwargs) -> Any:
    """Thinc's ``PyTorchShim.predict`` without the switch back to train mode (and a
    transformer's large batch in chunks of similar length,
    :mod:`spacy_stsn.ml.encoder_batches`).

    shim (PyTorchShim): the shim.
    inputs (ArgsKwargs): its module's arguments.
    RETURNS (Any): the module's outputs.
    """
    module = shim._model
    if module.training:
        module.eval()
    with (
        torch.no_grad(),
        torch.autocast(device_type="cuda", enabled=shim._mixed_precision),
    ):
        return predict_by_length(module, inputs)


def make_shim_thread_safe(shim: PyTorchShim) -> None:
    """Give ``shim`` :func:`predict_in_eval_mode` as its ``predict`` (on the instance),
    unless its class defines a ``predict`` of its own or the instance has one
    already.

    shim (PyTorchShim): the shim.
    """
    if "predict" in vars(shim) or type(shim).predict is not PyTorchShim.predict:
        return
    shim.predict = functools.partial(predict_in_eval_mode, shim)


def make_model_thread_safe(model: Model) -> None:
    """:func:`make_shim_thread_safe` for every PyTorch model inside ``model``.

    model (Model): the model.
    """
    for node in model.walk():
        for shim in node.shims:
            if isinstance(shim, PyTorchShim):
                make_shim_thread_safe(shim)


def make_pipeline_thread_safe(nlp: Language) -> None:
    """:func:`make_model_thread_safe` for every component of ``nlp``, disabled ones
    included.

    nlp (Language): the pipeline.
    """
    for _, component in nlp.components:
        model = getattr(component, "model", None)
        if isinstance(model, Model):
            make_model_thread_safe(model)
