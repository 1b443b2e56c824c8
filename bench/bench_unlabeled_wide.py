"""Can unlabelled text lift the linear (n-gram) branch? Three ways, by 5-fold CV on training rows.

bench_unlabeled.py shows `--unlabeled` moving nothing on the Blitzer domains: the combiner keeps the
n-gram branch alone there, and unlabelled text reaches only the embedding. This script asks whether
the n-gram branch itself could use it. It stands in for the branch with scikit-learn (1-2 gram
TF-IDF, the average of a plain and an NB-weighted L2 logistic regression, C=4: `nb_tfidf+tfidf`)
and scores, by 5-fold stratified CV on the dataset's training rows only (test rows never read):

- base: n-gram vocabulary and idf from the labelled texts (what `train` does);
- base, idf over unlabelled: vocabulary and idf counted over the labelled and unlabelled texts;
- self-training: the fold's model labels the unlabelled texts, and is refitted on its training
  rows plus those (weight w; all of them, or the more confident half); NB ratios stay labelled-only;
- LSA: 200 truncated-SVD dimensions of the labelled and unlabelled TF-IDF, L2-normalised, times a,
  appended to the n-grams (a linear model over [A, A V] is still linear in A, so it would fit the
  existing graph).

Every variant but the first uses the vocabulary counted over the unlabelled texts too, and is
compared with "base, idf over unlabelled". The unlabelled pool is bench_unlabeled.py's. About 5
minutes for blitzer_books on 2 cores.

    python bench/bench_unlabeled_wide.py [--dataset blitzer_books]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_datasets as bd  # noqa: E402
import bench_unlabeled as bu  # noqa: E402

FOLDS, SEED, C, LSA_DIM = 5, 0, 4.0, 200
SELF_WEIGHTS, LSA_SCALES = (0.1, 0.3), (0.5, 1.0, 2.0)


def read_pool(files: list[Path]) -> list[str]:
    """The unlabelled texts of bench_unlabeled.py's files (one per line, or a CSV's text column)."""
    texts: list[str] = []
    for f in files:
        if str(f).endswith(".txt"):
            texts += [line for line in Path(f).read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            texts += bd.read_frame(f)["text"].tolist()
    return texts


def nb_ratio(a, y: np.ndarray) -> np.ndarray:
    """Naive Bayes log-count ratio of binary occurrence, add-one smoothed (Wang & Manning 2012)."""
    p = 1 + np.asarray((a[y == 1] > 0).sum(0)).ravel()
    q = 1 + np.asarray((a[y == 0] > 0).sum(0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum()))


class Mix:
    """The average of a plain and an NB-weighted logistic regression's logits, with optional dense
    columns appended to both views."""

    def __init__(self, a, y: np.ndarray, *, extra=None, weight: np.ndarray | None = None,
                 ratio_rows: np.ndarray | None = None) -> None:
        from sklearn.linear_model import LogisticRegression

        rows = slice(None) if ratio_rows is None else ratio_rows
        self.r = nb_ratio(a[rows], y[rows])
        self.models = [LogisticRegression(C=C, solver="liblinear").fit(v, y, sample_weight=weight)
                       for v in self._views(a, extra)]

    def _views(self, a, extra) -> list:
        from scipy.sparse import diags, hstack

        views = [a, a @ diags(self.r)]
        return views if extra is None else [hstack([v, extra]).tocsr() for v in views]

    def logits(self, a, extra=None) -> np.ndarray:
        return 0.5 * sum(m.decision_function(v) for m, v in zip(self.models, self._views(a, extra)))


def main(argv: list[str] | None = None) -> int:
    from scipy.sparse import csr_matrix, vstack
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="blitzer_books", choices=sorted(bu.DATASETS))
    ap.add_argument("--datasets-dir", type=Path, default=bd.DEFAULT_DATASETS_DIR)
    args = ap.parse_args(argv)

    t0 = time.time()
    tmp = Path(tempfile.mkdtemp())
    ds = bd.load_dataset(args.dataset, args.datasets_dir, tmp)
    texts, y = list(ds.train.texts), np.asarray(ds.train.y).astype(int)
    pool = read_pool(bu.unlabeled_for(args.dataset, args.datasets_dir, tmp)[0])

    def vectorizer(corpus: list[str]):
        return TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=300_000, sublinear_tf=True).fit(corpus)

    own = vectorizer(texts).transform(texts)
    vec = vectorizer(texts + pool)
    a, u = vec.transform(texts), vec.transform(pool)
    lsa = TruncatedSVD(LSA_DIM, random_state=SEED).fit(vstack([a, u]).tocsr()).transform(a)
    lsa /= np.linalg.norm(lsa, axis=1, keepdims=True) + 1e-9
    print(f"{args.dataset}: {len(texts)} labelled, {len(pool)} unlabelled texts; "
          f"features and LSA in {time.time() - t0:.0f} s", flush=True)

    hits: dict[str, list[float]] = {}

    def score(name: str, model: Mix, x, y_te: np.ndarray, extra=None) -> None:
        hits.setdefault(name, []).extend((model.logits(x, extra) > 0) == y_te)

    for tr, te in StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(a, y):
        score("base", Mix(own[tr], y[tr]), own[te], y[te])
        base = Mix(a[tr], y[tr])
        score("base, idf over unlabelled", base, a[te], y[te])
        zu = base.logits(u)
        pseudo, confident = (zu > 0).astype(int), np.abs(zu) >= np.median(np.abs(zu))
        for w in SELF_WEIGHTS:
            for tag, keep in (("all", np.ones(len(pseudo), bool)), ("confident half", confident)):
                x = vstack([a[tr], u[keep]]).tocsr()
                labels = np.concatenate([y[tr], pseudo[keep]])
                weight = np.concatenate([np.ones(len(tr)), np.full(int(keep.sum()), w)])
                model = Mix(x, labels, weight=weight, ratio_rows=np.arange(len(tr)))
                score(f"self-training w={w}, {tag}", model, a[te], y[te])
        for s in LSA_SCALES:
            e_tr, e_te = csr_matrix(s * lsa[tr]), csr_matrix(s * lsa[te])
            score(f"LSA {LSA_DIM} dims x{s}", Mix(a[tr], y[tr], extra=e_tr), a[te], y[te], e_te)
        print(f"  fold done, {time.time() - t0:.0f} s", flush=True)

    ref = float(np.mean(hits["base, idf over unlabelled"]))
    print(f"\n{'variant (' + str(FOLDS) + '-fold CV, training rows)':<44}{'accuracy':>9}  vs idf over unlabelled")
    print("-" * 78)
    for name, h in hits.items():
        acc = float(np.mean(h))
        print(f"{name:<44}{acc:>9.4f}  {'' if name == 'base' else f'{acc - ref:+.4f}'}")
    print(f"base minus base with idf over unlabelled: {np.mean(hits['base']) - ref:+.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
