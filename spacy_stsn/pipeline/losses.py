"""The training loss of STSN (the paper's Eq. 18) and its gradients with respect to the
network's logits, from the targets of :mod:`spacy_stsn.pipeline.targets`."""

from typing import Any, Tuple

from .targets import Targets


def stsn_loss(ops: Any, outputs: Tuple, targets: Targets) -> Tuple[float, Tuple]:
    """Eq. 18: cross-entropy for tags and spans, binary cross-entropy for relations (Eq.
    9, 13, 17), and their gradients with respect to the logits ``outputs = (tag_logits,
    span_logits, rel_logits)``. The loss is read back from the device once, as a single
    number.

    ops (Any): the model's ops.
    outputs (Tuple): the network's tag, span and relation logits.
    targets (Targets): the batch's targets.
    RETURNS (Tuple[float, Tuple]): the loss and the gradients of the three logits.
    """
    tag_logits, span_logits, rel_logits = outputs
    xp = ops.xp
    tag_loss, d_tags = softmax_cross_entropy(
        ops, tag_logits, xp.asarray(targets.tag_labels)
    )
    span_loss, d_spans = softmax_cross_entropy(
        ops, span_logits, xp.asarray(targets.span_labels)
    )
    mask = xp.asarray(targets.pair_mask, dtype="float32")[..., None]
    probs = ops.sigmoid(rel_logits)
    y = xp.asarray(targets.pair_labels, dtype="float32")
    n_pairs = xp.maximum(mask.sum(), 1).astype("float32")
    eps = 1e-7
    rel_loss = (
        -((y * xp.log(probs + eps) + (1 - y) * xp.log(1 - probs + eps)) * mask).sum()
        / n_pairs
    )
    d_rels = ((probs - y) * mask / n_pairs).astype("float32")
    return float(tag_loss + span_loss + rel_loss), (d_tags, d_spans, d_rels)


def softmax_cross_entropy(ops: Any, logits: Any, labels: Any) -> Tuple[Any, Any]:
    """Mean cross-entropy over positions whose label is >= 0 (a device scalar), and its
    gradient w.r.t. ``logits``.

    ops (Any): the model's ops.
    logits (Any): (..., C) the logits.
    labels (Any): (...) the gold class of each position, -1 where none.
    RETURNS (Tuple[Any, Any]): the loss and the gradient.
    """
    xp = ops.xp
    if logits.shape[-1] == 0:
        return xp.zeros((), dtype="float32"), xp.zeros(logits.shape, dtype="float32")
    valid = labels >= 0
    n = xp.maximum(valid.sum(), 1).astype("float32")
    probs = ops.softmax(logits, axis=-1)
    gold = (
        xp.eye(logits.shape[-1], dtype="float32")[xp.where(valid, labels, 0)]
        * valid[..., None]
    )
    loss = -(xp.log(probs + 1e-9) * gold).sum() / n
    return loss, ((probs - gold) * valid[..., None] / n).astype("float32")
