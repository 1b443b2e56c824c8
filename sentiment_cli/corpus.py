"""Texts -> word ids in one pass over the data (on every core when it is large), and a vocabulary
with Keras `Tokenizer.fit` semantics counted afterwards on whichever rows training says.

Keras' recipe splits every training text twice (`fit_on_texts`, then `texts_to_sequences`) and keeps
the result as Python int lists. Here each text is split once, into *provisional* ids (a word's rank
of first appearance in the whole file) kept as a flat int32 array (token_ids.TokenIds). The
vocabulary is then counted with numpy on the rows it is fitted on (the training split, plus unlabeled
texts when the config says so), and one lookup table turns provisional ids into the tokenizer's ids:
the same `word_index_`, counts and ids as `Tokenizer().fit(rows).transform(texts)` (a test), with
splitting done once, in worker processes when there are many texts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections import defaultdict
from itertools import count
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from sentiment_cli.memory import return_freed_memory
from sentiment_cli.progress import Progress
from sentiment_cli.token_ids import TokenIds
from sentiment_cli.tokenizer import Tokenizer

log = logging.getLogger("sentiment")

# Texts per unit of work: big enough that sending it to a worker costs little next to splitting
# it, small enough that a chunk's Python lists stay a few MB.
CHUNK = 4096
# Fewer texts than this are split in this process: starting worker processes (~0.3 s) would cost
# more than it saves.
PARALLEL_MIN = 40_000


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # not on Linux
        return max(os.cpu_count() or 1, 1)


def _split_chunk(params: dict[str, Any], texts: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(the chunk's words in first-seen order, its texts' ids into that list, tokens per text).

    Runs in worker processes: module-level, and returns numpy arrays, cheap to send back.
    """
    tok = Tokenizer(**params)
    local: defaultdict[str, int] = defaultdict(count().__next__)  # a new word gets the next id
    get = local.__getitem__
    flat: list[int] = []
    lengths = np.empty(len(texts), dtype=np.int64)
    for j, text in enumerate(texts):
        before = len(flat)
        flat.extend(map(get, tok.words(text)))  # a C loop: the hot path
        lengths[j] = len(flat) - before
    return list(local), np.array(flat, dtype=np.int32), lengths


class WordSpace:
    """Provisional word ids: every word gets the next id the first time any text shows it."""

    def __init__(self) -> None:
        self._index: defaultdict[str, int] = defaultdict(count().__next__)

    @property
    def words(self) -> list[str]:
        """Words in id order (dicts keep insertion order, and ids are given in insertion order)."""
        return list(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def add(self, words: list[str], local_ids: np.ndarray) -> np.ndarray:
        """A chunk's ids into its own word list -> ids in this space (new words join it in order)."""
        lut = np.fromiter(map(self._index.__getitem__, words), dtype=np.int32, count=len(words))
        return lut[local_ids] if len(local_ids) else local_ids


def _chunks(texts: Iterable[str], size: int, release: bool = False) -> Iterator[list[str]]:
    """Lists of `size` texts; with `release` (a list), each chunk's entries in `texts` are set to
    None as it is handed out, so the texts are freed as they are split, not all at the end."""
    if release and isinstance(texts, list):
        for lo in range(0, len(texts), size):
            chunk = texts[lo:lo + size]
            texts[lo:lo + size] = [None] * len(chunk)  # type: ignore[list-item]
            yield chunk
            if (lo // size) % 16 == 15:
                return_freed_memory()  # small allocations: glibc keeps their pages otherwise
        return
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """Keep spawned workers from re-running the caller's script.

    A spawned child imports the parent's `__main__` from its file first: a user's script that calls
    `api.train` without an `if __name__ == "__main__":` guard would then train again inside every
    worker. The workers need nothing from `__main__` (they run `_split_chunk`), so while they
    start, `__main__` shows multiprocessing no file to import.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def _split_all(params: dict[str, Any], texts: Iterable[str], workers: int, serial: int, release: bool = False
               ) -> Iterator[tuple[list[str], np.ndarray, np.ndarray]]:
    """_split_chunk over the texts' chunks, in order: the first `serial` texts in this process,
    the rest in `workers` spawned processes (if more than one), at most two chunks ahead per worker,
    so memory holds a few chunks, not the file."""
    chunks = _chunks(texts, CHUNK, release)
    done = 0
    for chunk in chunks:
        yield _split_chunk(params, chunk)
        done += len(chunk)
        if workers > 1 and done >= serial:
            break
    else:
        return
    import concurrent.futures
    import multiprocessing

    # spawn, not fork: TensorFlow's threads are running by now, and a forked child can inherit a
    # lock one of them held.
    from concurrent.futures.process import BrokenProcessPool

    from sentiment_cli.errors import TrainingError

    context = multiprocessing.get_context("spawn")
    chunk: list[str] | None = None
    try:
        pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)
        chunk = next(chunks, None)
        if chunk is None:
            pool.shutdown()
            return
        with _main_not_rerun():  # workers start inside submit
            pending: list[Any] = [pool.submit(_split_chunk, params, chunk)]
    except (OSError, NotImplementedError, ImportError) as exc:
        # No worker processes here (a sandbox without POSIX semaphores, a read-only /dev/shm):
        # the same result, in this process.
        log.info("tokenizing in this process only: worker processes cannot start (%s)", exc)
        for rest in ([chunk] if chunk is not None else []), chunks:
            for c in rest:
                yield _split_chunk(params, c)
        return
    with pool:
        try:
            for chunk in chunks:
                with _main_not_rerun():
                    pending.append(pool.submit(_split_chunk, params, chunk))
                if len(pending) >= 2 * workers:
                    yield pending.pop(0).result()
            for future in pending:
                yield future.result()
        except BrokenProcessPool:
            raise TrainingError("a tokenizing worker process stopped unexpectedly (killed, most likely "
                                "for lack of memory)", "Free memory and train again") from None


def tokenize_parts(tokenizer: Tokenizer, texts: Iterable[str], space: WordSpace, *,
                   workers: int | None = None, what: str = "texts", release: bool = False,
                   on_part: Callable[[TokenIds], TokenIds] | None = None) -> list[TokenIds]:
    """Every text's words as provisional ids in `space`, in order, as one TokenIds per chunk of
    CHUNK texts: joining them would hold every id twice for a moment, which on a large file is the
    peak (training maps each part to its final 2-byte ids first, tokenize_splits). `workers`:
    processes to split texts in (None: every available core). Fewer than PARALLEL_MIN texts are
    split in this process (worker start-up would cost more than it saves); the result is the same
    either way. `release`: `texts` (a list) is emptied as it is read, every entry set to None.
    `on_part(part)`, called on each part as it is made, in order, returns what is kept of it (a
    multi_worker worker counts every row's words but keeps its share's ids: tokenize_splits)."""
    start = time.perf_counter()
    workers = available_cores() if workers is None else max(int(workers), 1)
    sized = hasattr(texts, "__len__")
    serial = PARALLEL_MIN if not sized else (0 if len(texts) >= PARALLEL_MIN else len(texts))  # type: ignore[arg-type]
    params = tokenizer.get_params()
    parts: list[TokenIds] = []
    rows = tokens = 0
    progress = Progress(f"tokenizing {what}", what, len(texts) if sized else None)  # type: ignore[arg-type]
    try:
        for words, local, n in _split_all(params, texts, workers, serial, release):
            part = TokenIds.from_lengths(space.add(words, local), n)
            rows, tokens = rows + len(part), tokens + len(part.ids)
            parts.append(on_part(part) if on_part is not None else part)
            progress.update(len(n))
    finally:
        progress.close()
    seconds = time.perf_counter() - start
    used = workers if rows > serial and workers > 1 else 1
    log.info("tokenized %d %s (%d tokens, %d distinct words) in %.1fs with %d process(es), %.0f %s/s",
             rows, what, tokens, len(space), seconds, used, rows / max(seconds, 1e-9), what)
    return parts


def tokenize(tokenizer: Tokenizer, texts: Iterable[str], space: WordSpace, *,
             workers: int | None = None, what: str = "texts", release: bool = False) -> TokenIds:
    """tokenize_parts joined into one TokenIds."""
    return TokenIds.concat(tokenize_parts(tokenizer, texts, space, workers=workers, what=what, release=release))


class VocabularyCounts:
    """Keras `Tokenizer.fit` statistics (word counts, document counts, first positions) of rows of
    provisional ids added block by block, in order: the rows need not be held together, and the
    word space may grow between blocks (ids are counted as they come)."""

    def __init__(self) -> None:
        self.counts = np.zeros(0, dtype=np.int64)
        self.docs = np.zeros(0, dtype=np.int64)
        self.first = np.zeros(0, dtype=np.int64)
        self.rows = self.position = 0

    def _grow(self, n_words: int) -> None:
        if n_words > len(self.counts):
            extra = n_words - len(self.counts)
            self.counts = np.concatenate([self.counts, np.zeros(extra, np.int64)])
            self.docs = np.concatenate([self.docs, np.zeros(extra, np.int64)])
            self.first = np.concatenate([self.first, np.full(extra, np.iinfo(np.int64).max, np.int64)])

    def add(self, block: TokenIds) -> None:
        n_words = int(block.ids.max(initial=-1)) + 1
        self._grow(n_words)
        n_words = len(self.counts)
        self.counts += np.bincount(block.ids, minlength=n_words)
        for lo in range(0, len(block), CHUNK):
            part = block[lo:lo + CHUNK]
            owner = np.repeat(np.arange(len(part), dtype=np.int64), part.lengths)
            codes = np.sort(owner * n_words + part.ids)  # sorting beats np.unique's hashing 7x here
            distinct = codes[np.concatenate([[True], codes[1:] != codes[:-1]])] if len(codes) else codes
            self.docs += np.bincount(distinct % n_words, minlength=n_words)  # each word once per text
            # each word's first position, a chunk of rows at a time
            np.minimum.at(self.first, part.ids, np.arange(self.position, self.position + len(part.ids), dtype=np.int64))
            self.position += len(part.ids)
        self.rows += len(block)

    def fit(self, tokenizer: Tokenizer, words: list[str]) -> Tokenizer:
        """`tokenizer` fitted as `tokenizer.fit(texts)` would be on the texts of the rows added."""
        self._grow(len(words))
        counts, docs, first = self.counts, self.docs, self.first
        seen = np.flatnonzero(counts > 0)
        ranked = seen[np.lexsort((first[seen], -counts[seen]))]
        by_first = seen[np.argsort(first[seen], kind="stable")]
        vocab = ([tokenizer.oov_token] if tokenizer.oov_token is not None else []) + [words[i] for i in ranked]
        tokenizer.word_index_ = dict(zip(vocab, range(1, len(vocab) + 1)))
        tokenizer.word_counts_ = {words[i]: int(counts[i]) for i in by_first}
        tokenizer.word_docs_ = {words[i]: int(docs[i]) for i in by_first}
        tokenizer.document_count_ = self.rows
        tokenizer._build_lookup()
        return tokenizer


def fit_vocabulary(tokenizer: Tokenizer, words: list[str], rows: TokenIds | Iterable[TokenIds]) -> Tokenizer:
    """Fit `tokenizer` as `tokenizer.fit(texts)` would on the texts whose provisional ids are
    `rows` (ids into `words`; one TokenIds, or several read one after another as if joined); then
    `ids.map(lookup_table(tokenizer, words))` is `tokenizer.transform(texts)`.

    Keras ranks words by count, ties in order of first appearance: `first` is each word's first
    position in the rows, read in row order (VocabularyCounts).
    """
    counts = VocabularyCounts()
    for block in [rows] if isinstance(rows, TokenIds) else rows:
        counts.add(block)
    return counts.fit(tokenizer, words)


def lookup_table(tokenizer: Tokenizer, words: list[str]) -> np.ndarray:
    """Provisional id -> the fitted tokenizer's id (its num_words as set now; -1: the word is
    dropped, by a tokenizer without an OOV token)."""
    lookup, oov = tokenizer._lookup, tokenizer._oov_id
    default = -1 if oov is None else oov
    return np.fromiter((lookup.get(w, default) for w in words), dtype=np.int32, count=len(words))
