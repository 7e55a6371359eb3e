"""Fast checks of the benchmark helpers (no models, no timing assertions): ``pytest
benchmarks -q``."""

from pathlib import Path

from harness import markdown_table
from measure import StageTimer, peak_rss_mib, reset_peak_rss, rss_mib
from profile_inference import pyspy_summary
from ray_extract import write_input
from scaling import long_document, n_candidate_spans


def test_candidate_spans_match_enumeration() -> None:
    for n in (1, 5, 10, 23):
        expected = sum(
            1 for start in range(n) for width in range(1, 11) if start + width <= n
        )
        assert n_candidate_spans(n, 10) == expected


def test_long_document_cycles_real_sentences() -> None:
    sentences = [
        (["John", "lives", "."], [True, True, False]),
        (["Acme", "Corp", "."], [True, True, False]),
    ]
    words, spaces = long_document(sentences, 8)
    assert words == ["John", "lives", ".", "Acme", "Corp", ".", "John", "lives"]
    assert len(spaces) == 8 and spaces[2]  # sentences are separated by a space


def test_stage_timer_nests_and_counts() -> None:
    timer = StageTimer()
    inner = timer.wrap("inner", lambda: None)
    outer = timer.wrap("outer", lambda: [inner(), inner()])
    outer()
    assert timer.calls[("outer",)] == 1 and timer.calls[("outer", "inner")] == 2
    assert [row[0].replace("&nbsp;", "") for row in timer.rows(1.0)] == [
        "outer",
        "inner",
    ]


def test_pyspy_summary_self_and_inclusive(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "main (a.py:1);f (a.py:2) 3\nmain (a.py:1);g (a.py:3);f (a.py:2) 2\n"
    )
    summary = pyspy_summary(raw, top=5, wrapper_share=1.0)
    assert summary["samples"] == 5
    assert dict(summary["self"])["f (a.py)"] == 5
    assert dict(summary["inclusive"])["main (a.py)"] == 5
    # shared by every sample
    assert "main (a.py)" not in dict(pyspy_summary(raw, top=5)["inclusive"])


def test_memory_probes_report_positive_values() -> None:
    reset_peak_rss()
    assert rss_mib() is None or rss_mib() > 0
    assert peak_rss_mib() > 0


def test_markdown_table_shape() -> None:
    assert markdown_table(["a", "b"], [[1, 2]]).splitlines() == [
        "| a | b |",
        "|---|---|",
        "| 1 | 2 |",
    ]


def test_ray_benchmark_input_repeats_the_test_sentences(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    n_sentences = write_input(source, 700)
    lines = source.read_text(encoding="utf8").splitlines()
    assert (
        len(lines) == 700
        and n_sentences < 700
        and lines[n_sentences] == lines[0] != lines[1]
    )


def test_decoding_post_hoc_rules_and_overlap_recall() -> None:
    import spacy
    from decoding import overlap_recall, post_hoc
    from spacy.tokens import Doc
    from spacy.training import Example

    from spacy_stsn.pipeline.annotations import make_relation, set_entities

    vocab = spacy.blank("en").vocab
    doc = Doc(vocab, words=["Codeine", "intoxication", "in", "Rome"])
    # nested predictions: the outer AE (0.6) and the inner Drug (0.9); the tags agree
    # with the outer one only
    set_entities(doc, [(0, 2, "AE"), (0, 1, "Drug"), (3, 4, "Loc")], [0.6, 0.9, 0.8])
    doc._.stsn_tags = ["B-AE", "I-AE", "O", "B-Loc"]
    doc._.relations = [
        make_relation((0, 2), "AE", (0, 1), "Drug", "Adverse-Effect", 0.9),
        make_relation((0, 1), "Drug", (3, 4), "Loc", "In", 0.5),
    ]
    by_score = post_hoc(doc, "stsn", lambda span, score, agrees: (score,), veto=False)
    assert [(s.start, s.end) for s in by_score.spans["stsn"]] == [(0, 1), (3, 4)]
    assert [r["label"] for r in by_score._.relations] == ["In"]
    by_tags = post_hoc(
        doc, "stsn", lambda span, score, agrees: (agrees, score), veto=False
    )
    assert [(s.start, s.end) for s in by_tags.spans["stsn"]] == [
        (0, 2),
        (3, 4),
    ] and by_tags._.relations == []
    vetoed = post_hoc(doc, "stsn", lambda span, score, agrees: (score,), veto=True)
    assert [(s.start, s.end) for s in vetoed.spans["stsn"]] == [(0, 2), (3, 4)]
    gold = Doc(vocab, words=[t.text for t in doc])
    set_entities(gold, [(0, 2, "AE"), (0, 1, "Drug"), (3, 4, "Loc")])
    assert overlap_recall([Example(by_score, gold)], "stsn") == (1, 2)
    assert overlap_recall([Example(doc, gold)], "stsn") == (2, 2)


def test_accuracy_set_overrides_every_row_and_the_title_states_the_batch(
    monkeypatch, tmp_path: Path
) -> None:
    """``accuracy.py --set`` reaches every row's runs (after the row's own change), and
    the table's title names the batch size the runs had, not always the config's."""
    import accuracy

    from stsn_dev.summaries import METRICS

    seen: dict = {}

    def fake_grid(config, corpus, variants, *args, **kwargs):
        seen.clear()
        seen.update(variants)
        run = {**{m: 50.0 for m in METRICS}, "seed": 0, "dev_curve": []}
        return {name: [run] for name in variants}

    monkeypatch.setattr(accuracy, "run_grid", fake_grid)
    size, scale = "training.batcher.size", "components.stsn.model.learn_rate_scale"
    out = tmp_path / "accuracy.json"
    common = ["--protocol", "spert", "--steps", "10", "--output", str(out)]
    accuracy.main([*common, "--set", size, "2", "--set", scale, "10"])
    assert seen == {
        name: {**change, size: 2, scale: 10}
        for name, change in accuracy.VARIANTS.items()
    }
    assert "10 steps of 2 sentences" in out.with_suffix(".md").read_text()
    accuracy.main(common)
    assert seen == accuracy.VARIANTS
    assert "10 steps of 4 sentences" in out.with_suffix(".md").read_text()


def test_flops_are_counted_from_shapes_with_cpu_attention() -> None:
    """A linear layer and CPU's fused attention kernel (which torch's counter misses)
    forward, and the attention's backward too."""
    import torch
    from profiling import count_flops

    linear = torch.nn.Linear(8, 4)
    x = torch.randn(3, 8)
    assert count_flops(lambda: linear(x))[0] == 2 * 3 * 8 * 4
    q = torch.randn(1, 2, 5, 4, requires_grad=True)  # (batch, heads, length, dim)
    attend = torch.nn.functional.scaled_dot_product_attention
    product = 2 * 2 * 5 * 4 * 5  # one (5 x 4) @ (4 x 5) product per head
    flops, out = count_flops(lambda: attend(q, q, q))
    assert flops == 2 * product  # scores, weighted values
    # torch's count of the backward: the scores again and four gradient products
    assert count_flops(lambda: out.sum().backward())[0] == 5 * product
