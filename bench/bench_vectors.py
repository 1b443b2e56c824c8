"""Loading a large pretrained vector file into a training vocabulary: time and peak memory.

    python bench/bench_vectors.py                 # 400,000 words x 300 dimensions (about 1 GB)
    python bench/bench_vectors.py --words 50000   # a smaller file, for a quick run

Writes a GloVe-format text file of random vectors (the words: the 20,000 most frequent words of the
bundled training split's vocabulary, then made-up ones) once into bench/out/, then, in a fresh
process each, (a) loads the bundled training vocabulary and tokenizes its reviews, and (b) does the
same and then builds the starting embedding from the file (vectors.embedding_from_file), as
`train` does with model.embedding_init=vectors. The difference of the two is what reading the file
costs. Targets (issue 12): under 30 s and under 500 MB of peak RSS above the process without it.
Medians over --repeats; results in bench/out/bench_vectors.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
TRAIN = ROOT / "data" / "imdb_train.csv.gz"

# One child: tokenizer fitted on the bundled training split (num_words 20,000), then optionally the
# embedding from the file; prints JSON with its wall seconds for the file step and its peak RSS.
CHILD = """
import json, resource, sys, time
from sentiment_cli.data import load_labeled
from sentiment_cli.tokenizer import Tokenizer
data = load_labeled(sys.argv[1], "text", "label")
tok = Tokenizer(num_words=20000, oov_token="<OOV>", strip_html=True).fit(data.texts)
seqs = tok.transform(data.texts)
seconds, coverage = 0.0, None
if sys.argv[2] != "-":
    from sentiment_cli.vectors import embedding_from_file
    start = time.perf_counter()
    matrix, cov = embedding_from_file(sys.argv[2], tok.word_index_, tok.vocabulary_size, dim=None, seed=0,
                                      sequences=seqs, skip=(0, 1))
    seconds, coverage = time.perf_counter() - start, cov.to_dict()
print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "coverage": coverage}))
"""


def write_vectors(path: Path, words: int, dim: int, vocabulary: list[str]) -> None:
    """`words` lines of GloVe text: the vocabulary's words first (so coverage is high), then others."""
    rng = np.random.default_rng(0)
    names = vocabulary[:words] + [f"word{i}" for i in range(max(0, words - len(vocabulary)))]
    with open(path, "w", encoding="utf-8") as fh:
        for start in range(0, words, 10_000):
            block = rng.normal(0, 0.4, (min(10_000, words - start), dim)).astype(np.float32)
            fh.write("".join(f"{w} {' '.join(f'{v:.5f}' for v in row)}\n"
                             for w, row in zip(names[start:start + len(block)], block)))


def run_child(vectors: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(TRAIN), vectors], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=400_000)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"vectors_{args.words}x{args.dim}.txt"
    if not path.exists():
        from sentiment_cli.data import load_labeled
        from sentiment_cli.tokenizer import Tokenizer

        print(f"writing {path} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        tok = Tokenizer(num_words=20000, oov_token="<OOV>", strip_html=True).fit(load_labeled(TRAIN, "text", "label").texts)
        vocabulary = [w for w, _ in sorted(tok.word_index_.items(), key=lambda kv: kv[1])[1:20_000]]
        write_vectors(path, args.words, args.dim, vocabulary)
        print(f"  {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    base, loaded = [], []
    for _ in range(args.repeats):  # alternating, so machine load hits both alike
        base.append(run_child("-"))
        loaded.append(run_child(str(path)))
    seconds = statistics.median(r["seconds"] for r in loaded)
    extra = statistics.median(r["rss_mb"] for r in loaded) - statistics.median(r["rss_mb"] for r in base)
    coverage = loaded[-1]["coverage"]
    lines = [f"vector file: {path.name}, {path.stat().st_size / 1e9:.2f} GB ({args.words:,} words x {args.dim}); "
             f"vocabulary 20,000 ids of the bundled training split; medians over {args.repeats} runs",
             f"  coverage: {coverage['words_with_vector']:,} of {coverage['vocabulary_words']:,} words, "
             f"{100 * coverage['token_coverage']:.1f}% of training tokens",
             f"{'PASS' if seconds < 30 else 'FAIL'}  load time {seconds:.1f} s (target < 30 s)",
             f"{'PASS' if extra < 500 else 'FAIL'}  peak RSS {extra:.0f} MB above the process without it "
             f"(target < 500 MB; {statistics.median(r['rss_mb'] for r in base):.0f} MB without)"]
    print("\n".join(lines))
    (OUT / "bench_vectors.json").write_text(json.dumps({"file": str(path), "seconds": seconds, "extra_rss_mb": extra,
                                                        "base": base, "loaded": loaded}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
