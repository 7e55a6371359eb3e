"""The README's picture: a trained pipeline's entities and relations on CoNLL04 test
sentences, as displaCy draws them.

The sentences are the first ``-n`` test sentences that have gold relations, end with a
full stop and have at least ``--min-tokens`` tokens (CoNLL04 is full of datelines such
as "FRESNO , Calif ."), are at most ``--max-words`` displayed words long (an entity is
one word; longer sentences make a picture too wide to read in a README). They are chosen
from the gold annotations only, without looking at the predictions.

They go through the documented command line, ``python -m spacy_stsn extract MODEL in.txt
-o out.jsonl --html out.html``, and headless Chromium photographs the HTML; the white
margin is cropped away.

    python scripts/screenshot.py training/conll04/model-best corpus/conll04/test.spacy
    docs/relations.png

Needs Chromium (Debian: ``apt-get install chromium``) and Pillow (installed with
matplotlib).
"""

import argparse
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List, Tuple

import spacy
from PIL import Image, ImageChops
from spacy.tokens import DocBin

# registers doc._.relations, which the DocBin's gold relations need
import spacy_stsn  # noqa: F401
from spacy_stsn.cli.main import main as stsn_cli
from spacy_stsn.extraction.visualize import relation_graph
from stsn_dev.summaries import check_outputs

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]
# displaCy leaves 6rem under every sentence (inline style); a picture of several
# sentences reads better tighter
TIGHT_FIGURES = "<style>figure { margin: 0 0 1rem 0 !important; }</style>\n"


def pick_sentences(corpus: Path, n: int, min_tokens: int, max_words: int) -> List[str]:
    """The first ``n`` full sentences of ``corpus`` with gold relations, at least
    ``min_tokens`` tokens and at most ``max_words`` words drawn."""
    nlp = spacy.blank("en")
    texts = []
    for doc in DocBin().from_disk(corpus).get_docs(nlp.vocab):
        words = [word["text"] for word in relation_graph(doc)["words"]]
        if (
            doc._.relations
            and doc[-1].text.endswith(".")
            and len(doc) >= min_tokens
            and len(words) <= max_words
        ):
            texts.append(" ".join(token.text for token in doc))
            if len(texts) == n:
                break
    if not texts:
        raise ValueError(
            f"{corpus}: no full sentence with relations, {min_tokens}+ tokens and at most {max_words} "
            "words"
        )
    return texts


def page_size(html: str) -> Tuple[int, int]:
    """A window that holds every displaCy SVG of the page without scrolling (the
    screenshot is the viewport)."""
    sizes = [
        (float(w), float(h))
        for w, h in re.findall(
            r'<svg[^>]*?width="([\d.]+)"[^>]*?height="([\d.]+)"', html
        )
    ]
    if not sizes:
        raise ValueError("no displaCy SVG in the HTML")
    # each arc view (an SVG) comes under a span view (HTML) of about 150 px
    return int(max(w for w, _ in sizes)) + 200, int(
        sum(h for _, h in sizes)
    ) + 300 * len(sizes) + 300


def find_chromium() -> str:
    """The Chromium (or Chrome) executable; ``FileNotFoundError`` if there is none."""
    chromium = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if chromium is None:
        raise FileNotFoundError("Chromium not found (Debian: apt-get install chromium)")
    return chromium


def screenshot(html_path: Path, png_path: Path, size: Tuple[int, int]) -> None:
    """Headless Chromium's picture of ``html_path``; a fresh profile each time, so no
    state leaks in."""
    chromium = find_chromium()
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={png_path}",
                f"--window-size={size[0]},{size[1]}",
                html_path.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def crop(png_path: Path, out: Path, margin: int = 24) -> None:
    """Cut the page's white border down to ``margin`` pixels around the drawing."""
    image = Image.open(png_path).convert("RGB")
    box = ImageChops.difference(
        image, Image.new("RGB", image.size, (255, 255, 255))
    ).getbbox()
    if box is None:
        raise ValueError(f"{png_path}: the screenshot is blank")
    left, top, right, bottom = box
    image.crop(
        (
            max(left - margin, 0),
            max(top - margin, 0),
            min(right + margin, image.width),
            min(bottom + margin, image.height),
        )
    ).save(out, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "model", help="trained pipeline (directory or installed package)"
    )
    parser.add_argument(
        "corpus",
        type=Path,
        help="gold .spacy file (with relations) to take the sentences from",
    )
    parser.add_argument("output", type=Path, help="PNG to write")
    parser.add_argument("-n", type=int, default=3, help="number of sentences")
    parser.add_argument("--min-tokens", type=int, default=8)
    parser.add_argument(
        "--max-words",
        type=int,
        default=12,
        help="longest sentence, an entity counting one",
    )
    args = parser.parse_args()
    check_outputs(args.output)
    texts = pick_sentences(args.corpus, args.n, args.min_tokens, args.max_words)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        source, html = Path(work, "in.txt"), Path(work, "out.html")
        source.write_text("\n".join(texts) + "\n", encoding="utf8")
        if (
            stsn_cli(
                [
                    "extract",
                    args.model,
                    str(source),
                    "-o",
                    str(Path(work, "out.jsonl")),
                    "--html",
                    str(html),
                    "--restart",
                ]
            )
            != 0
        ):
            raise SystemExit(1)
        page = html.read_text(encoding="utf8").replace(
            "</head>", TIGHT_FIGURES + "</head>", 1
        )
        html.write_text(page, encoding="utf8")
        raw = Path(work, "raw.png")
        screenshot(html, raw, page_size(page))
        crop(raw, args.output)
    print(f"wrote {args.output} ({len(texts)} sentences)")


if __name__ == "__main__":
    main()
