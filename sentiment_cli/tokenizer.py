"""The preprocessing stage: Keras `Tokenizer` and `pad_sequences` semantics, without Keras.

Keras 3 removed `keras.preprocessing.text.Tokenizer`; models trained with the lecture recipe depend
on its exact behaviour (frequency-ranked ids, ties in first-seen order, `num_words` as an exclusive
id bound, id 1 for the OOV token). This module reproduces it in plain Python/numpy, which also keeps
TensorFlow off the prediction path. Tests check it token-for-token against tf-keras. One
extension, off unless asked (`symbols`, which the default config turns on for short texts): "!",
"?", emoticons and emoji become words of their own before Keras' splitting applies to the rest.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict, defaultdict, deque
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from sentiment_cli.errors import ArtifactError, NotFittedError
from sentiment_cli.token_ids import TokenIds

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
FORMAT = "sentiment-tokenizer"
FORMAT_VERSION = 1
_HTML_TAG = re.compile(r"<[^<>]{0,200}>")
# tokenizer.symbols: "!", "?", emoticons and emoji become tokens of their own instead of separators
# (Keras' filters drop the first three, and glue an emoji to the word beside it). In tweets they carry
# sentiment: 5-fold CV of the n-gram branch on SemEval's training tweets +0.7 points (binary) and +1.3
# (3-class), within -0.3..+0.3 on reviews and news sentences, log loss lower or equal on all. An
# emoticon is a western one with optional nose (":)", ";-(", ":D", ":'(", "(:") or "<3", not inside a
# word or a URL ("http://" holds ":/"); an emoji is one pictograph, skin tones and joiners dropped.
_EMOTICON = r"(?<![\w/])(?:[:;=][\-o*'^]?[)\](\[dDpP/\\|@3oO]+|[(\[][\-o*'^]?[:;=]|<3|:'\()(?![\w/])"
_EMOJI = "\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff"
_SYMBOL = re.compile(f"({_EMOTICON}|[!?])|([{_EMOJI}])[\ufe0f\u200d\U0001f3fb-\U0001f3ff]*")
_SYMBOL_START = re.compile(f"[!?:;=(\\[<{_EMOJI}]")  # where one can start: found fast, _SYMBOL tried there

# Texts longer than this (characters) are split into words a slice at a time (Tokenizer._window):
# a 50 MB review would otherwise become a list of ten million words, over a gigabyte, for the
# maxlen of them the model reads.
LONG_TEXT = 1 << 20


def text_to_word_sequence(text: str, filters: str = KERAS_FILTERS, lower: bool = True,
                          split: str = " ") -> list[str]:
    """Keras' word splitter: lower-case, map every filter character to `split`, drop empties."""
    fast = _ascii_plan(filters, lower) if split == " " else None
    if fast is not None and text.isascii() and not any(map(text.__contains__, fast[1])):
        # The same words in about 60% of the time (splitting is most of `predict`'s Python work):
        # one bytes.translate lower-cases and maps filters to spaces, and str.split() drops the
        # empties. str.split() also splits at other ASCII whitespace, so that is ruled out first.
        return text.encode("ascii").translate(fast[0]).decode("ascii").split()
    if lower:
        text = text.lower()
    text = text.translate(_separator_table(filters, split))
    return list(filter(None, text.split(split)))


def symbol_word_sequence(text: str, filters: str = KERAS_FILTERS, lower: bool = True,
                         split: str = " ") -> list[str]:
    """text_to_word_sequence with "!", "?", emoticons and emoji taken out first as words of their own."""
    out: list[str] = []
    pos = 0  # the text before pos is split already
    start = _SYMBOL_START.search(text)
    while start is not None:
        found = _SYMBOL.match(text, start.start())  # its lookbehind still sees the text before
        if found is None:
            start = _SYMBOL_START.search(text, start.start() + 1)
            continue
        if found.start() > pos:
            out += text_to_word_sequence(text[pos:found.start()], filters, lower, split)
        symbol = found.group(1) or found.group(2)
        out.append(symbol.lower() if lower else symbol)
        pos = found.end()
        start = _SYMBOL_START.search(text, pos)
    if pos == 0:
        return text_to_word_sequence(text, filters, lower, split)
    if pos < len(text):
        out += text_to_word_sequence(text[pos:], filters, lower, split)
    return out


@lru_cache(maxsize=32)
def _separator_table(filters: str, split: str) -> dict[int, str]:
    # Built once per setting rather than once per text: `predict` splits millions of texts.
    return str.maketrans({c: split for c in filters})


@lru_cache(maxsize=32)
def _ascii_plan(filters: str, lower: bool) -> tuple[bytes, str]:
    """For ASCII texts split at " ": a 256-byte table (lower-case, then filters -> space) and the
    whitespace characters str.split() would split at but Keras would keep inside a word."""
    table = bytearray(range(256))
    for code in range(128):
        char = chr(code).lower() if lower else chr(code)
        table[code] = ord(" ") if char in filters else ord(char)
    return bytes(table), "".join(c for c in "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f" if c not in filters)


def pad_sequences(sequences: Sequence[Sequence[int]], maxlen: int | None = None, *,
                  padding: str = "pre", truncating: str = "pre", value: int = 0,
                  dtype: str = "int32") -> np.ndarray:
    """`keras.utils.pad_sequences` for integer id lists: same shapes, same pre/post rules."""
    if padding not in ("pre", "post") or truncating not in ("pre", "post"):
        raise ValueError(f"padding and truncating must be 'pre' or 'post', got {padding!r}, {truncating!r}")
    if maxlen is None:
        maxlen = max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), maxlen), value, dtype=dtype)
    if maxlen == 0:
        return out
    for row, seq in enumerate(sequences):
        if not len(seq):
            continue
        trunc = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        if padding == "post":
            out[row, : len(trunc)] = trunc
        else:
            out[row, -len(trunc):] = trunc
    return out


class Tokenizer:
    """Word-level tokenizer with the semantics of `tf_keras.preprocessing.text.Tokenizer`.

    Parameters are stored as given (scikit-learn style); `fit` learns `word_index_`,
    `word_counts_`, `word_docs_` and `document_count_`. `transform` is Keras'
    `texts_to_sequences`; `encode` adds padding to `maxlen` for the model.

    `strip_html` is the one addition: when true, HTML tags (`<br />` in IMDB) become spaces before
    Keras' splitting, so they do not turn into the word "br".

    Example
    -------
    >>> tok = Tokenizer(num_words=4, oov_token="<OOV>").fit(["good good film", "bad film"])
    >>> tok.transform(["good bad awful"])
    [[3, 1, 1]]
    """

    def __init__(self, *, num_words: int | None = None, filters: str = KERAS_FILTERS,
                 lower: bool = True, split: str = " ", oov_token: str | None = None,
                 strip_html: bool = False, maxlen: int | None = None, padding: str = "pre",
                 truncating: str = "pre", symbols: bool = False) -> None:
        self.num_words = num_words
        self.filters = filters
        self.lower = lower
        self.split = split
        self.oov_token = oov_token
        self.strip_html = strip_html
        self.maxlen = maxlen
        self.padding = padding
        self.truncating = truncating
        self.symbols = symbols  # False (Keras' splitting) unless asked: a tokenizer.json without it predates it

    # -- learning -----------------------------------------------------------------------------
    def words(self, text: str) -> list[str]:
        """Split one text exactly as fit/transform do."""
        if self.strip_html:
            text = _HTML_TAG.sub(" ", text)
        if self.symbols:
            return symbol_word_sequence(text, self.filters, self.lower, self.split)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit(self, texts: Iterable[str]) -> "Tokenizer":
        """Learn the vocabulary: ids ranked by frequency, ties in order of first appearance."""
        _check_texts(texts)
        counts: OrderedDict[str, int] = OrderedDict()
        docs: defaultdict[str, int] = defaultdict(int)
        n_docs = 0
        for text in texts:
            n_docs += 1
            seq = self.words(text)
            for w in seq:
                counts[w] = counts.get(w, 0) + 1
            for w in set(seq):
                docs[w] += 1
        # sorted() is stable, which is what makes Keras' tie order "first seen first".
        ranked = sorted(counts.items(), key=lambda wc: wc[1], reverse=True)
        vocab = ([self.oov_token] if self.oov_token is not None else []) + [w for w, _ in ranked]
        self.word_index_ = dict(zip(vocab, range(1, len(vocab) + 1)))
        self.word_counts_ = dict(counts)
        self.word_docs_ = dict(docs)
        self.document_count_ = n_docs
        self._build_lookup()
        return self

    def _build_lookup(self) -> None:
        # Only ids the model can see go into the lookup; everything else maps to OOV (or is dropped).
        limit = self.num_words if self.num_words else None
        self._lookup = {w: i for w, i in self.word_index_.items() if limit is None or i < limit}
        self.__dict__.pop("_longest", None)
        self._oov_id = self.word_index_.get(self.oov_token) if self.oov_token is not None else None

    # -- applying ------------------------------------------------------------------------------
    def transform(self, texts: Iterable[str]) -> list[list[int]]:
        """Texts -> lists of word ids (Keras `texts_to_sequences`)."""
        self._check_fitted()
        _check_texts(texts)
        get, oov = self._lookup.get, self._oov_id
        out = []
        for text in texts:
            words = self.words(text)
            if oov is not None:
                out.append(list(map(get, words, repeat(oov, len(words)))))  # a C loop: the hot path
            else:
                out.append([i for i in map(get, words) if i is not None])
        return out

    texts_to_sequences = transform

    def fit_transform(self, texts: Sequence[str]) -> list[list[int]]:
        return self.fit(texts).transform(texts)

    def encode(self, texts: Iterable[str]) -> np.ndarray:
        """Texts -> int32 array (n, maxlen), ready for the model."""
        return self.encode_with_lengths(texts)[0]

    def _window(self, text: str) -> tuple[list[int], int] | None:
        """For a text longer than LONG_TEXT characters: the ids that survive truncation to maxlen,
        and the text's whole id count, with memory bounded by LONG_TEXT, not by the text.

        The text is split into words a slice at a time, each slice cut at a separator (a filter
        character or `split`), outside any HTML tag, so the words are exactly `words(text)`'s.
        A word with no separator in LONG_TEXT characters cannot be in the vocabulary: it counts
        as one unknown word without being copied (so does an HTML tag longer than that). With
        `symbols` the cuts are at white space (an emoticon holds filter characters) or before an HTML
        tag, so there a run of LONG_TEXT characters without white space is that one unknown word. None where this does not apply (no maxlen, a
        multi-character `split`, or HTML stripping with '<' or '>' kept inside words).
        """
        seps = set(self.filters) | set(self.split)
        if (not self.maxlen or len(self.split) != 1
                or (self.strip_html and not {"<", ">"} <= seps)):
            return None
        if self.symbols:  # an emoticon holds filter characters (":", "("): cut only at white space
            seps = {c for c in seps if c.isspace()}
            if not seps:  # a `split` such as "|" with no white space among the filters
                return None
        get, oov = self._lookup.get, self._oov_id
        pre = self.truncating == "pre"
        kept: Any = deque(maxlen=self.maxlen) if pre else []
        total, start, n = 0, 0, len(text)
        while start < n:
            end = min(start + LONG_TEXT, n)
            if end < n:
                cut = max(text.rfind(c, start, end) for c in seps)
                if self.strip_html and cut > start:
                    opened = text.rfind("<", start, cut)
                    if opened > max(text.rfind(">", start, cut), start) and cut - opened <= 202:
                        # never inside a tag: stripping it must see all of it. With symbols only
                        # where a tag does open there: a lone "<" may be the emoticon "<3", and a
                        # slice starting at it would read "x<3" as "x", "<3".
                        if not self.symbols or _HTML_TAG.match(text, opened):
                            cut = opened
                if cut <= start:  # one word of LONG_TEXT characters or more
                    following = [i for i in (text.find(c, end) for c in seps) if i >= 0]
                    stop = min(following) if following else n
                    if stop - start > 2 * self._longest_word():  # longer than any known word, lower-cased or not
                        start = stop
                        if oov is not None:
                            total += 1
                            if pre or len(kept) < self.maxlen:
                                kept.append(oov)
                        continue
                    cut = stop
                end = cut
            words = self.words(text[start:end])
            ids = list(map(get, words, repeat(oov, len(words)))) if oov is not None else \
                [i for i in map(get, words) if i is not None]
            total += len(ids)
            if pre:
                kept.extend(ids)
            elif len(kept) < self.maxlen:
                kept.extend(ids[:self.maxlen - len(kept)])
            start = end
        return list(kept), total

    def pad(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """Id lists (from `transform`) -> int32 array (n, maxlen), with this tokenizer's padding.

        With an OOV token, a text with no tokens at all ("!", an emoji) becomes one OOV id: a model
        that masks padding would otherwise see a row with nothing to read, and average pooling over
        zero steps is 0/0 = NaN, in training (a NaN loss) and in predict alike.
        """
        oov = self.__dict__.get("_oov_id")  # set by fit and load; not word_index_ (parsed lazily)
        if isinstance(sequences, TokenIds):
            maxlen = self.maxlen if self.maxlen is not None else int(sequences.lengths.max(initial=0))
            return sequences.pad(maxlen, padding=self.padding, truncating=self.truncating, empty=oov)
        if oov is not None and not all(len(s) for s in sequences):
            sequences = [s if len(s) else [oov] for s in sequences]
        return pad_sequences(sequences, self.maxlen, padding=self.padding, truncating=self.truncating)

    def _longest_word(self) -> int:
        longest = self.__dict__.get("_longest")
        if longest is None:
            longest = self.__dict__["_longest"] = max(map(len, self._lookup), default=0)
        return longest

    def encode_with_lengths(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Like `encode`, also returning each text's token count before truncation."""
        _check_texts(texts)
        texts = texts if isinstance(texts, (list, tuple)) else list(texts)
        if not any(len(t) > LONG_TEXT for t in texts if isinstance(t, str)):
            seqs = self.transform(texts)
            lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
            return self.pad(seqs), lengths
        self._check_fitted()
        seqs, counts = [], []
        for text in texts:
            window = self._window(text) if len(text) > LONG_TEXT else None
            if window is None:
                ids = self.transform([text])[0]
                window = ids, len(ids)
            seqs.append(window[0])
            counts.append(window[1])
        return self.pad(seqs), np.asarray(counts, dtype=np.int64)

    @property
    def vocabulary_size(self) -> int:
        """Size of the id space the embedding layer needs (ids 0..size-1)."""
        self._check_fitted()
        return self.num_words if self.num_words else len(self.word_index_) + 1

    def _check_fitted(self) -> None:
        if "word_index_" not in self.__dict__ and "_deferred_json" not in self.__dict__:
            raise NotFittedError("Tokenizer vocabulary not fitted", "Call fit(texts) first")

    # -- persistence ---------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("num_words", "filters", "lower", "split", "oov_token",
                                               "strip_html", "maxlen", "padding", "truncating", "symbols")}

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"format": FORMAT, "version": FORMAT_VERSION, "config": self.get_params(),
                "document_count": self.document_count_, "word_index": self.word_index_,
                "word_counts": self.word_counts_, "word_docs": self.word_docs_}

    def to_json(self) -> str:
        """Human-readable JSON (settings, then the vocabulary in id order)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Tokenizer":
        """Read our JSON, or the JSON written by tf-keras' `Tokenizer.to_json()`."""
        fast = cls._from_own_json(text)
        if fast is not None:
            fast._check_settings()
            return fast
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ArtifactError(f"tokenizer JSON is not valid JSON ({exc})",
                                "Re-train or restore tokenizer.json") from None
        try:
            if isinstance(data, dict) and data.get("class_name") == "Tokenizer":
                return cls._from_keras(data["config"])
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError("not a sentiment or tf-keras tokenizer")
            tok = cls(**data["config"])
            tok.word_index_ = {str(w): int(i) for w, i in data["word_index"].items()}
            tok.word_counts_ = {str(w): int(c) for w, c in data["word_counts"].items()}
            tok.word_docs_ = {str(w): int(c) for w, c in data["word_docs"].items()}
            tok.document_count_ = int(data["document_count"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactError(f"tokenizer JSON has an unexpected layout ({exc})",
                                "Re-train or restore tokenizer.json") from None
        tok._check_settings()
        tok._validate_loaded()
        tok._build_lookup()
        return tok

    def _check_settings(self) -> None:
        """Refuse loaded settings that would fail later, or silently score garbage, as an ArtifactError."""
        def ok(name: str) -> bool:
            value = getattr(self, name)
            if name in ("num_words", "maxlen"):
                return value is None or (type(value) is int and 1 <= value <= 10_000_000)
            if name in ("padding", "truncating"):
                return value in ("pre", "post")
            if name in ("lower", "strip_html", "symbols"):
                return type(value) is bool
            if name == "split":
                return isinstance(value, str) and value != ""
            if name == "filters":
                return isinstance(value, str)
            return value is None or isinstance(value, str)  # oov_token

        for name in ("num_words", "maxlen", "padding", "truncating", "lower", "strip_html", "split",
                     "filters", "oov_token", "symbols"):
            if not ok(name):
                raise ArtifactError(f"tokenizer JSON has an invalid setting {name}={getattr(self, name)!r}",
                                    "Restore tokenizer.json or re-train the model")

    @classmethod
    def _from_own_json(cls, text: str) -> "Tokenizer | None":
        """Our own file, parsing only what `transform` reads: settings and ids below num_words.

        The rest (all of word_index, word_counts, word_docs: 4.6 MB for the default model) is
        parsed on first access, which only inspection and refitting need; parsing it all made up
        most of `predict`'s start-up. `to_json` writes each top-level key on a line indented by
        exactly one space, which no nested key or JSON string can produce, so a key is found by a
        string search and only its value decoded. Anything unexpected returns None and the full
        parse runs, with its error messages.
        """
        if not isinstance(text, str) or not text[-64:].rstrip().endswith("}"):
            return None
        decoder = json.JSONDecoder()
        parts: dict[str, Any] = {}
        starts: dict[str, int] = {}
        for key in ("format", "config", "document_count", "word_index"):
            marker = f'\n "{key}": '
            at = text.find(marker)
            if at < 0 or text.find(marker, at + 1) >= 0:
                return None
            starts[key] = at + len(marker)
            if key != "word_index":
                try:
                    parts[key] = decoder.raw_decode(text, starts[key])[0]
                except ValueError:
                    return None
        if (parts["format"] != FORMAT or not isinstance(parts["config"], dict)
                or type(parts["document_count"]) is not int):
            return None
        try:
            tok = cls(**parts["config"])
        except TypeError:
            return None
        lookup = _visible_ids(text, starts["word_index"], tok.num_words)
        if lookup is None or (tok.oov_token is not None and tok.oov_token not in lookup):
            return None
        tok.document_count_ = parts["document_count"]
        tok._deferred_json = text  # word_index_, word_counts_ and word_docs_ come from it on first use
        tok._lookup = lookup
        tok._oov_id = lookup.get(tok.oov_token) if tok.oov_token is not None else None
        return tok

    def __getattr__(self, name: str) -> Any:
        # Reached only for attributes not set: the vocabulary of a tokenizer read by _from_own_json.
        text = self.__dict__.get("_deferred_json") if name in ("word_index_", "word_counts_", "word_docs_") else None
        if text is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        try:
            data = json.loads(text)
            self.word_index_ = {str(w): int(i) for w, i in data["word_index"].items()}
            self.word_counts_ = {str(w): int(c) for w, c in data["word_counts"].items()}
            self.word_docs_ = {str(w): int(c) for w, c in data["word_docs"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactError(f"tokenizer JSON has an unexpected layout ({exc})",
                                "Re-train or restore tokenizer.json") from None
        del self._deferred_json
        return self.__dict__[name]

    @classmethod
    def _from_keras(cls, config: dict[str, Any]) -> "Tokenizer":
        if config.get("char_level"):
            raise ValueError("char_level tokenizers are not supported")
        tok = cls(num_words=config.get("num_words"), filters=config.get("filters", KERAS_FILTERS),
                  lower=config.get("lower", True), split=config.get("split", " "),
                  oov_token=config.get("oov_token"))
        tok.word_index_ = {str(w): int(i) for w, i in json.loads(config["word_index"]).items()}
        tok.word_counts_ = dict(json.loads(config["word_counts"]))
        tok.word_docs_ = dict(json.loads(config["word_docs"]))
        tok.document_count_ = int(config.get("document_count", 0))
        tok._check_settings()
        tok._validate_loaded()
        tok._build_lookup()
        return tok

    def _validate_loaded(self) -> None:
        ids = self.word_index_.values()
        if any(i < 1 for i in ids):
            raise ValueError("word ids must be >= 1 (0 is padding)")
        if self.num_words is not None and (not isinstance(self.num_words, int) or self.num_words < 1):
            raise ValueError(f"num_words must be a positive integer, got {self.num_words!r}")

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ArtifactError(f"tokenizer file '{path}' is missing",
                                "Point --model at a directory written by 'sentiment train'") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"cannot read tokenizer file '{path}' ({exc})",
                                "Re-train or restore tokenizer.json") from None
        try:
            return cls.from_json(text)
        except ArtifactError as exc:  # name the file: the message itself only says "tokenizer JSON"
            raise ArtifactError(f"'{path}': {exc.message}", exc.hint) from None


def _visible_ids(text: str, start: int, num_words: Any) -> dict[str, int] | None:
    """The words with ids 1..num_words-1 of the word_index object starting at `start`, or None.

    Our writer lists word_index in id order, one entry per line, so those ids are a prefix ending
    before the line `"<word>": num_words,` (a raw newline cannot occur inside a JSON string). The
    prefix is accepted only if its ids are exactly 1..num_words-1 in order; otherwise (a small
    vocabulary, a foreign layout) None, and the caller parses everything.
    """
    if type(num_words) is not int or num_words < 2:
        return None
    end = text.find(f'": {num_words},\n', start)
    line = text.rfind("\n", start, end) if end > 0 else -1
    if line <= start:
        return None
    try:
        head = json.loads(text[start:line].rstrip().removesuffix(",") + "}")
    except ValueError:
        return None
    if not isinstance(head, dict) or list(head.values()) != list(range(1, num_words)):
        return None
    return head


def _check_texts(texts: Any) -> None:
    # The classic mistake: one string is an iterable of characters, which would "work" silently.
    if isinstance(texts, (str, bytes)):
        raise ValueError("Iterable over raw text documents expected, string object received.")
