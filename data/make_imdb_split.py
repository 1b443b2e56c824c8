"""Rebuild the bundled IMDB train/test split from the shared 50k review file.

Why a script: the split is part of every figure the README reports, so anyone must be able to
regenerate it byte-for-byte from the published source. Run from the repository root:

    python data/make_imdb_split.py ../shared/datasets/imdb50k.csv.gz

Steps: drop exact duplicate texts (the first occurrence is kept; a text that appears with
conflicting labels is dropped entirely), then a stratified 50/50 split with a fixed seed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

SEED = 1337


def build(source: Path, out_dir: Path) -> dict[str, int]:
    df = pd.read_csv(source, dtype=str, keep_default_na=False)
    n_raw = len(df)
    conflicting = df.groupby("text")["label"].nunique()
    conflicting = set(conflicting[conflicting > 1].index)
    df = df[~df["text"].isin(conflicting)].drop_duplicates(subset="text", keep="first")
    train, test = train_test_split(df, test_size=0.5, stratify=df["label"], random_state=SEED)
    for name, part in (("imdb_train", train), ("imdb_test", test)):
        path = out_dir / f"{name}.csv.gz"
        # mtime=0 and a fixed filename keep the gzip bytes reproducible run to run.
        with open(path, "wb") as raw, gzip.GzipFile(filename=f"{name}.csv", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(part.to_csv(index=False).encode("utf-8"))
        print(f"{path}: {len(part)} rows, sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")
    return {"raw": n_raw, "conflicting_texts": len(conflicting), "kept": len(df),
            "train": len(train), "test": len(test)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="imdb50k.csv.gz (columns text,label)")
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent)
    print(build(parser.parse_args().source, parser.parse_args().out_dir))
