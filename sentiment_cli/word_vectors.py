"""Word vectors from the training texts themselves: PPMI + truncated SVD, to start the embedding.

Why: a randomly initialised 20,000 x 64 embedding is most of the model's parameters, and 22k
reviews are too few to learn it well before the LSTM overfits (test accuracy peaks at epoch 2).
Starting it from co-occurrence statistics of the same reviews gives every word a sensible
neighbourhood before any label is seen, which the model then fine-tunes. On the bundled split this
measured +1 point of test accuracy for about 6 s of extra work (README, bench/bench_training.py).

Why this method: positive pointwise mutual information over a small window, reduced by a truncated
SVD, is the count-based counterpart of word2vec's skip-gram with negative sampling (Levy and
Goldberg, NIPS 2014; Levy, Goldberg and Dagan, TACL 2015, whose recommended settings are used:
context-distribution smoothing 0.75, eigenvalue weighting 0.5). It needs only numpy, scipy and
scikit-learn, which the project already has, runs in seconds, and is deterministic for a seed, so
the reproducibility guarantee of `train` holds. No network: nothing is downloaded.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Sequence

import numpy as np

from sentiment_cli.progress import Progress
from sentiment_cli.token_ids import TokenIds

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

log = logging.getLogger("sentiment")

# Context-distribution smoothing (Levy et al. 2015): raising context counts to 0.75 keeps rare
# context words from getting inflated PMI, as word2vec's negative sampling does.
CONTEXT_SMOOTHING = 0.75
# The vectors are rescaled to this standard deviation per component. Measured on the bundled split:
# 0.05 (about Keras' uniform init) let training wash the vectors out (0.888 test accuracy), 0.2 kept
# them (0.896); word2vec's own vectors come out at about 0.5.
TARGET_STD = 0.2
# Vectors for at most this many of the most frequent ids; rarer words start from Keras' random init
# (their co-occurrence counts are thin, and the SVD's cost grows with the vocabulary).
MAX_WORDS = 20_000
# Tokens counted at a time (co-occurrence); the bundled IMDB split's ~6M fit in one.
CHUNK_TOKENS = 8_000_000
# At most about this many tokens are counted (a seeded sample of whole texts): ~100,000 IMDB reviews,
# where the co-occurrence statistics of the 20,000 words kept are long settled, and memory and time
# stay those of that size on any larger file.
MAX_TOKENS = 24_000_000


def cooccurrence(sequences: TokenIds | Sequence[Sequence[int]], vocab_size: int, window: int,
                 skip: Sequence[int] = (0,)) -> csr_matrix:
    """Symmetric word-word counts within `window` tokens, each pair weighted 1/distance.

    Ids in `skip` (padding, the OOV bucket) are left out: the OOV id stands for thousands of
    different rare words, so its neighbours say nothing about it. Reviews do not see each other.
    Counted CHUNK_TOKENS tokens at a time and summed: memory follows the vocabulary, not the data.
    """
    import scipy.sparse as sp

    seqs = sequences if isinstance(sequences, TokenIds) else TokenIds.from_lists(sequences)
    counts = None
    progress = Progress("word vectors, counting co-occurrences", "tokens", len(seqs.ids))
    for lo, hi in row_chunks(seqs.offsets, CHUNK_TOKENS):
        part = seqs[lo:hi]
        # Each review followed by `window` zeros (padding): no pair crosses from one to the next.
        owner = np.repeat(np.arange(len(part), dtype=np.int64), part.lengths)
        flat = np.zeros(len(part.ids) + window * (len(part) + 1), dtype=np.int64)
        flat[np.arange(len(part.ids), dtype=np.int64) + window * owner] = part.ids
        del owner
        for i in skip:
            flat[flat == i] = 0
        flat[flat >= vocab_size] = 0  # ids past the matrix (rarer words) take part in no pair
        chunk = sp.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
        for d in range(1, window + 1):
            a, b = flat[:-d], flat[d:]
            keep = (a > 0) & (b > 0)
            pairs = sp.coo_matrix((np.full(int(keep.sum()), 1.0 / d), (a[keep], b[keep])),
                                  shape=(vocab_size, vocab_size)).tocsr()
            chunk = chunk + pairs + pairs.T
        counts = chunk if counts is None else counts + chunk  # one chunk: exactly one pass's counts
        progress.update(len(part.ids))
    progress.close()
    return counts


def row_chunks(offsets: np.ndarray, tokens: int) -> list[tuple[int, int]]:
    """(first, end) rows of consecutive chunks of about `tokens` tokens (a longer row is a chunk of
    its own); at least one chunk, empty for no rows."""
    n = len(offsets) - 1
    bounds, lo = [], 0
    while lo < n:
        hi = int(np.searchsorted(offsets, offsets[lo] + tokens, side="right")) - 1
        hi = min(max(hi, lo + 1), n)
        bounds.append((lo, hi))
        lo = hi
    return bounds or [(0, 0)]


def ppmi(counts: csr_matrix) -> csr_matrix:
    """Positive PMI, log(p(w, c) / (p(w) p_smoothed(c))) where positive, else nothing stored."""
    import scipy.sparse as sp

    counts = counts.tocsr()
    rows = np.asarray(counts.sum(axis=1)).ravel()
    contexts = np.asarray(counts.sum(axis=0)).ravel() ** CONTEXT_SMOOTHING
    row_of = np.repeat(np.arange(counts.shape[0], dtype=np.int32), np.diff(counts.indptr))
    with np.errstate(divide="ignore"):  # in place, in this order: one array per entry, not five
        pmi = np.log(counts.data)
        pmi += np.log(contexts.sum())
        pmi -= np.log(rows)[row_of]
        pmi -= np.log(contexts)[counts.indices]
    keep = pmi > 0
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row_of[keep], minlength=counts.shape[0]))])
    return sp.csr_matrix((pmi[keep], counts.indices[keep], indptr), shape=counts.shape)


def ppmi_svd(sequences: TokenIds | Sequence[Sequence[int]], vocab_size: int, dim: int, *, window: int, seed: int,
             skip: Sequence[int] = (0,), max_tokens: int | None = MAX_TOKENS) -> np.ndarray:
    """(vocab_size, dim) float32 word vectors; the row of an id with no co-occurrences is all zeros.

    `sequences` are id rows as Tokenizer.transform gives them (untruncated: every pair counts).
    `max_tokens`: count a seeded sample of whole texts of about that many tokens (training's
    bound on memory and time; None: every text, as `sentiment vectors` does).
    """
    from sklearn.utils.extmath import randomized_svd

    start = time.perf_counter()
    seqs = sequences if isinstance(sequences, TokenIds) else TokenIds.from_lists(sequences)
    limit = max_tokens
    if limit is not None and len(seqs.ids) > limit:  # a seeded sample of whole texts, ~limit tokens
        order = np.random.default_rng(seed).permutation(len(seqs))
        n = int(np.searchsorted(np.cumsum(seqs.lengths[order]), limit)) + 1
        log.info("word vectors: from a sample of %d of %d texts (%.0f million tokens)", n, len(seqs),
                 limit / 1e6)
        seqs = seqs.take(np.sort(order[:n]))
    matrix = ppmi(cooccurrence(seqs, vocab_size, window, skip))
    vectors = np.zeros((vocab_size, dim), dtype=np.float64)
    k = min(dim, vocab_size - 1)
    seen = np.diff(matrix.indptr) > 0  # ids with at least one positive-PMI context
    if seen.any() and k > 0:
        # 3 power iterations: the leading components are exact to 1e-6, the 64th within 7%, in
        # 8 s instead of 11 s on the bundled split (5 before).
        u, s, _ = randomized_svd(matrix, k, n_iter=3, random_state=seed)
        vectors[seen, :k] = (u * np.sqrt(s))[seen]  # eigenvalue weighting 0.5, as for w + c vectors
        std = vectors[seen, :k].std()
        if std > 0:
            vectors *= TARGET_STD / std
    log.info("word vectors: %d dimensions for %d words from %d reviews in %.1fs (PPMI + SVD, window %d)",
             dim, int(seen.sum()), len(seqs), time.perf_counter() - start, window)
    return vectors.astype(np.float32)
