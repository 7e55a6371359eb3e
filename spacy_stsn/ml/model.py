"""Thinc side of STSN: turns Docs into padded tensors, runs the PyTorch module, hands
arrays back.

The registered architecture ``spacy_stsn.STSN.v1`` chains any ``tok2vec`` (a
``spacy-transformers`` listener with ``reduce_max`` pooling is the paper's Align Module;
a CNN ``tok2vec`` works too) with the :class:`~spacy_stsn.nn.stsn.STSN` module. Its
input is ``(docs, Candidates)`` in training, the span and pair candidates the component
chose (gold + negative samples), which run the module's ``forward``; and ``(docs,
Decoding)`` at inference, which runs :meth:`~spacy_stsn.nn.stsn.STSN.infer` with the
decoding settings and given entities as arguments.
"""

from typing import Any, Callable, List, Optional, Tuple

import numpy
import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import (
    ArgsKwargs,
    Model,
    Optimizer,
    PyTorchShim,
    get_torch_default_device,
    torch2xp,
    xp2torch,
)
from thinc.layers.pytorchwrapper import forward as pytorch_forward
from thinc.types import Floats2d

from ..nn.stsn import STSN, Extraction
from . import runtime  # noqa: F401  (one torch thread in forked children)
from .pooling import make_pooling_total
from .precision import set_model_precision
from .requests import Decoding, STSNInput
from .rows import chunk_rows, gather_rows, is_whole_documents


@registry.architectures("spacy_stsn.STSN.v1")
def build_stsn_model(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: Optional[int] = None,
    n_layers: int = 3,
    n_heads: int = 8,
    width_embedding: int = 150,
    max_span_width: int = 10,
    interaction: str = "bi",
    dropout: float = 0.1,
    max_pair_entities: int = 100,
    learn_rate_scale: float = 1.0,
    attention_window: Optional[int] = 128,
    inference_precision: str = "float32",
) -> Model[STSNInput, Tuple]:
    """STSN (:class:`~spacy_stsn.nn.stsn.STSN`) over ``tok2vec``.

    tok2vec (Model[List[Doc], List[Floats2d]]): the token encoder: a spacy-transformers
        listener with ``reduce_max`` pooling is the paper's Align Module; a CNN tok2vec
        works too.
    hidden_width (Optional[int]): the width of the stacked attention layers; None
        keeps the encoder's width (the paper's d).
    n_layers (int): stacked attention layers; 0 is the paper's "w/o Label" ablation.
    n_heads (int): attention heads per layer (the paper's h).
    width_embedding (int): the width of the span width embedding (the paper's 150).
    max_span_width (int): the longest candidate span in tokens (the paper's epsilon).
    interaction (str): the information interaction between NER and RE: "bi" (the
        paper's), "ner_to_re", "re_to_ner" or "none" (the paper's Table 5 ablations).
    dropout (float): the head's dropout rate.
    max_pair_entities (int): how many predicted entities per window (a sentence, a
        token window, or the whole document under ``windows = "document"``) are
        paired at inference, the best-scored ones, so that the pairs stay bounded
        whatever the entities (a warning counts those it leaves out); beyond the paper.
    learn_rate_scale (float): multiplies the optimizer's learning rate for every layer
        the component trains itself (the head, and the thinc layers of its tok2vec),
        not for a transformer it listens to, so randomly initialised layers can learn
        faster than the pretrained encoder; 1.0 is the paper's.
    attention_window (Optional[int]): longer documents (in tokens) get block-local
        attention in the stacked layers, so their cost grows linearly; None: always
        full attention, the paper's; beyond the paper.
    inference_precision (str): an alias kept for pipelines saved with it: "bfloat16"
        runs this head (only) under bfloat16 autocast at inference; the pipeline's
        ``precision`` callback (:mod:`spacy_stsn.ml.precision`), when set, decides for
        the transformer and the head, in training too.
    RETURNS (Model[STSNInput, Tuple]): the model; its input is ``(docs, Candidates)``
        in training and ``(docs, Decoding)`` at inference
        (:mod:`spacy_stsn.ml.requests`).
    """
    module = STSN(
        hidden_width=hidden_width,
        n_layers=n_layers,
        n_heads=n_heads,
        width_embedding=width_embedding,
        max_span_width=max_span_width,
        interaction=interaction,
        dropout=dropout,
        max_pair_entities=max_pair_entities,
        attention_window=attention_window,
    )
    head = torch_head(module, learn_rate_scale, inference_precision)
    # tokens with no word pieces (whitespace, zero-width and control characters)
    make_pooling_total(tok2vec)
    return Model(
        "stsn",
        forward,
        init=init,
        layers=[tok2vec, head],
        refs={"tok2vec": tok2vec, "head": head},
        attrs={
            "max_span_width": max_span_width,
            "n_layers": n_layers,
            "labels": None,
            "learn_rate_scale": learn_rate_scale,
        },
    )


def torch_head(
    module: STSN, learn_rate_scale: float, inference_precision: str
) -> Model:
    """The thinc layer that runs ``module``.

    module (STSN): the network.
    learn_rate_scale (float): the architecture's ``learn_rate_scale``.
    inference_precision (str): the architecture's ``inference_precision``.
    RETURNS (Model): the layer, named "stsn_torch".
    """
    head = Model(
        "stsn_torch",
        pytorch_forward,
        attrs={"convert_inputs": _convert_inputs, "convert_outputs": _convert_outputs},
        shims=[ScaledPyTorchShim(module, learn_rate_scale=learn_rate_scale)],
    )
    if inference_precision not in ("float32", "bfloat16"):
        raise ValueError(
            "inference_precision must be 'float32' or 'bfloat16' (an alias of the pipeline's precision "
            f"setting, spacy_stsn.precision.v1), not {inference_precision!r}"
        )
    set_model_precision(head, "float32", inference_precision)
    return head


class ScaledPyTorchShim(PyTorchShim):
    """Thinc's PyTorch shim, with the optimizer step scaled by ``learn_rate_scale``."""

    def __init__(self, module: STSN, learn_rate_scale: float = 1.0):
        super().__init__(module)
        self.learn_rate_scale = learn_rate_scale

    def predict(self, inputs: ArgsKwargs) -> Any:
        """The module's inference path (:meth:`STSN.infer`) under
        ``torch.inference_mode`` (no autograd bookkeeping at all) and without thinc's
        ``eval()`` / ``train()`` round trip per call, which walks all ~100 submodules
        twice: the module is switched to eval mode only when it is not in it already
        (``begin_update`` switches it back).

        inputs (ArgsKwargs): the module's arguments (padded vectors, lengths and the
            decoding settings).
        RETURNS (Any): the module's :class:`~spacy_stsn.nn.stsn.Extraction`.
        """
        if self._model.training:
            self._model.eval()
        with (
            torch.inference_mode(),
            torch.autocast("cuda", enabled=self._mixed_precision),
        ):
            return self._model.infer(*inputs.args, **inputs.kwargs)

    def finish_update(self, optimizer: Optimizer) -> None:
        """Step the module's parameters at ``learn_rate_scale`` times the rate.

        optimizer (Optimizer): thinc's optimizer, or one that steps torch parameters
            in place (it has ``update_torch_parameters``, as ``spacy_stsn.AdamW.v1``).
        """
        if hasattr(optimizer, "update_torch_parameters"):
            # an optimizer that steps torch parameters as they are
            # (spacy_stsn.AdamW.v1): no copies
            optimizer.update_torch_parameters(
                self.id, self._model.named_parameters(), lr_scale=self.learn_rate_scale
            )
            return
        for name, param in self._model.named_parameters():
            if param.grad is not None:
                data, _ = optimizer(
                    (self.id, name),
                    torch2xp(param.data),
                    torch2xp(param.grad),
                    lr_scale=self.learn_rate_scale,
                )
                param.data = xp2torch(data, requires_grad=True, device=param.device)
                param.grad.zero_()


def finish_update(model: Model, optimizer: Optimizer) -> None:
    """Thinc's ``Model.finish_update`` with the architecture's ``learn_rate_scale`` on
    every layer the component trains itself: the torch head (through its shim) and the
    thinc layers of its tok2vec (the lexical features of
    ``spacy_stsn.FeatureTok2Vec.v1``, a CNN), randomly initialised like the head, unlike
    the transformer it listens to, which its own component updates.

    model (Model): the ``spacy_stsn.STSN.v1`` model.
    optimizer (Optimizer): the optimizer.
    """
    scale = model.attrs.get("learn_rate_scale", 1.0)
    for node in model.walk():
        for shim in node.shims:
            shim.finish_update(optimizer)
    for node in model.walk():
        for name in node.param_names:
            if node.has_grad(name):
                param, grad = node.get_param(name), node.get_grad(name)
                param, grad = optimizer((node.id, name), param, grad, lr_scale=scale)
                node.set_param(name, param)
                node.set_grad(name, grad)


def torch_module(model: Model) -> STSN:
    """The network inside the model.

    model (Model): the ``spacy_stsn.STSN.v1`` model.
    RETURNS (STSN): its torch module.
    """
    return model.get_ref("head").shims[0]._model


def set_head_dropout(model: Model, rate: Optional[float]) -> None:
    """Set the torch head's dropout (``None``: the architecture's ``dropout``); Thinc's
    ``set_dropout_rate`` only reaches Thinc layers.

    model (Model): the ``spacy_stsn.STSN.v1`` model.
    rate (Optional[float]): the dropout rate; None: the architecture's.
    """
    torch_module(model).set_dropout(rate)


def build_head(
    model: Model, input_width: int, n_entities: int, n_relations: int, n_tags: int
) -> None:
    """Create the label-dependent parameters (nothing to do when they exist in these
    sizes); also called before loading weights from disk.

    model (Model): the ``spacy_stsn.STSN.v1`` model.
    input_width (int): the width of the tok2vec's output.
    n_entities (int): entity labels.
    n_relations (int): relation types.
    n_tags (int): token tags.
    """
    module = torch_module(model)
    if module.is_built and module.dims == (
        input_width,
        n_entities,
        n_relations,
        n_tags,
    ):
        return
    module.build(input_width, n_entities, n_relations, n_tags)
    module.to(get_torch_default_device())


def input_width(model: Model, docs: List[Doc]) -> int:
    """Width of the tok2vec output: its ``nO`` if declared, else what it outputs for
    sample docs.

    model (Model): the ``spacy_stsn.STSN.v1`` model.
    docs (List[Doc]): sample documents, not empty.
    RETURNS (int): the width.
    """
    tok2vec = model.get_ref("tok2vec")
    if tok2vec.has_dim("nO"):
        return tok2vec.get_dim("nO")
    return int(tok2vec.predict(docs)[0].shape[1])


def init(model: Model, X: Optional[STSNInput] = None, Y: Any = None) -> None:
    """Initialize the tok2vec and build the head for the labels in
    ``model.attrs["labels"]``.

    model (Model): the ``spacy_stsn.STSN.v1`` model.
    X (Optional[STSNInput]): sample documents (and a request, unused).
    Y (Any): unused.
    """
    labels = model.attrs["labels"]
    if labels is None:
        raise ValueError(
            "STSN model needs model.attrs['labels'] (entities, relations, tags) before initialize"
        )
    docs = [doc for doc in X[0] if len(doc)] if X is not None else []
    tok2vec = model.get_ref("tok2vec")
    tok2vec.initialize(X=docs or None)
    if not docs:
        raise ValueError(
            "STSN needs at least one non-empty sample document to initialize"
        )
    build_head(
        model,
        input_width(model, docs),
        len(labels["entities"]),
        len(labels["relations"]),
        len(labels["tags"]),
    )


def forward(model: Model, inputs: STSNInput, is_train: bool) -> Tuple[Any, Callable]:
    """The model's forward pass.

    model (Model): the ``spacy_stsn.STSN.v1`` model.
    inputs (STSNInput): the docs and the request (:mod:`spacy_stsn.ml.requests`):
        ``Candidates`` in training, ``Decoding`` at inference.
    is_train (bool): whether the pass is a training one.
    RETURNS (Tuple[Any, Callable]): in training, the head's logits for the candidates
        and their backprop; at inference, a list of (row indices,
        :class:`~spacy_stsn.nn.stsn.Extraction`) per chunk of rows.
    """
    docs, request = inputs
    vectors, backprop_tok2vec = model.get_ref("tok2vec")(docs, is_train)
    lengths = [len(v) for v in vectors]
    rows = request.rows
    if rows is not None and is_whole_documents(rows, lengths):
        rows = None
    if isinstance(request, Decoding):
        return _predict_rows(model, vectors, rows, request), _no_backprop
    head = model.get_ref("head")
    candidates = {"spans": request.spans, "pairs": request.pairs}
    if rows is None:
        padded, row_lengths = model.ops.pad(vectors), model.ops.asarray1i(lengths)
    else:
        flat = model.ops.flatten(vectors)
        padded, row_lengths, index = gather_rows(model.ops, flat, lengths, rows)
    outputs, backprop_head = head((padded, row_lengths, candidates), is_train)

    def backprop(d_outputs: Tuple) -> List[Doc]:
        d_padded = backprop_head(d_outputs)
        if rows is None:
            return backprop_tok2vec(model.ops.unpad(d_padded, lengths))
        d_flat = model.ops.alloc2f(*flat.shape)
        valid = index >= 0
        model.ops.scatter_add(
            d_flat,
            model.ops.xp.ascontiguousarray(index[valid]),
            model.ops.xp.ascontiguousarray(d_padded[valid], dtype="float32"),
        )
        return backprop_tok2vec(model.ops.unflatten(d_flat, lengths))

    return outputs, backprop


def _predict_rows(
    model: Model, vectors: List[Floats2d], rows: Optional[numpy.ndarray], request: Any
) -> List[Tuple[numpy.ndarray, Extraction]]:
    """The head's inference over the rows, chunk by chunk (one chunk: the documents as
    they are, as before windows existed)."""
    head, ops = model.get_ref("head"), model.ops

    def settings(given: Any, boundaries: Any) -> dict:
        return {
            "given": given,
            "nested_threshold": request.nested_threshold,
            "boundaries": boundaries,
        }

    if rows is None:
        lengths = ops.asarray1i([len(v) for v in vectors])
        inputs = (
            ops.pad(vectors),
            lengths,
            settings(request.given, request.boundaries),
        )
        return [(numpy.arange(len(vectors)), head.predict(inputs))]
    lengths = [len(v) for v in vectors]
    flat = vectors[0] if len(vectors) == 1 else ops.flatten(vectors)
    flat_boundaries = None
    if request.boundaries is not None:  # (B, T) padded -> one value per token
        width = request.boundaries.shape[1]
        real = ops.xp.arange(width)[None, :] < ops.asarray1i(lengths)[:, None]
        flat_boundaries = request.boundaries[real]
    chunks = []
    for index in chunk_rows(rows[:, 2] - rows[:, 1], request.max_batch_items):
        padded, row_lengths, at = gather_rows(ops, flat, lengths, rows[index])
        given = None if request.given is None else request.given[index]
        boundaries = None
        if flat_boundaries is not None:  # the rows' own, 0 at padding
            boundaries = flat_boundaries[ops.xp.maximum(at, 0)] * (at >= 0)
        outputs = head.predict((padded, row_lengths, settings(given, boundaries)))
        chunks.append((index, outputs))
    return chunks


def _no_backprop(d_outputs: Any) -> List:
    raise ValueError(
        "STSN inference outputs have no gradient; pass candidates to train"
    )


def _convert_inputs(
    model: Model, X: Tuple, is_train: bool
) -> Tuple[ArgsKwargs, Callable]:
    padded, lengths, settings = X
    args = (xp2torch(padded, requires_grad=is_train), xp2torch(lengths).long())
    kwargs = {
        key: xp2torch(value).long() if hasattr(value, "shape") else value
        for key, value in settings.items()
    }

    def backprop(d_args: ArgsKwargs) -> Any:
        return torch2xp(d_args.args[0])

    return ArgsKwargs(args=args, kwargs=kwargs), backprop


def _convert_outputs(
    model: Model, inputs_outputs: Tuple, is_train: bool
) -> Tuple[Tuple, Callable]:
    _, outputs = inputs_outputs
    arrays = tuple(torch2xp(out.detach()) for out in outputs)
    if isinstance(outputs, Extraction):
        arrays = Extraction(*arrays)

    def backprop(d_outputs: Tuple) -> ArgsKwargs:
        pairs = [
            (out, xp2torch(d))
            for out, d in zip(outputs, d_outputs)
            if out.requires_grad and d.size
        ]
        return ArgsKwargs(
            args=([o for o, _ in pairs],),
            kwargs={"grad_tensors": [d for _, d in pairs]},
        )

    return arrays, backprop
