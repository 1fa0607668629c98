"""Messages to features: the bag of words (binary, counts or TF-IDF), hashed columns for
unseen tokens, character n-grams, token-id sequences, and what the provenance says of them.

Every vectorizer is fitted on the vocabulary messages only (training messages, as the
protocol's ``vocabulary`` parameter says), never on test messages.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

from aebench import DataError
from aebench_plugins.datasets.sms_spam.protocols import VOCABULARY_FROM

#: Token ids: 0 pads, 1 stands for a word outside the vocabulary, vocabulary column i is i + 2.
PAD, OOV, FIRST_ID = 0, 1, 2


def bag_of_words(
    path: Path, params: dict[str, Any], x_vocab: list[str], x_tr: list[str], x_te: list[str]
):
    """The word vectorizer and the character n-gram vectorizer (None unless ``char_ngrams``),
    both fitted on ``x_vocab`` (training messages only), and the dense float32 features: words,
    their out-of-vocabulary buckets, then character n-grams and theirs.

    TF-IDF is counts (out-of-vocabulary buckets included) through a TfidfTransformer whose idf
    is fitted on ``x_vocab`` too: a bucket no vocabulary message fills gets the idf of a word
    seen in no document, ln((1 + n) / 1) + 1, the largest there is, but finite. Without buckets
    or character n-grams this is exactly scikit-learn's TfidfVectorizer.
    """
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    binary = params["features"] == "binary"
    common = dict(lowercase=True, min_df=params["min_df"], binary=binary, dtype=np.float32)
    vectorizer = CountVectorizer(max_features=params["max_features"], **common)
    n_chars = int(params["char_ngrams"])
    chars = None
    if n_chars:
        chars = CountVectorizer(analyzer="char", ngram_range=(1, n_chars), **common)
    for v in (vectorizer, chars) if chars is not None else (vectorizer,):
        try:
            v.fit(x_vocab)
        except ValueError as exc:  # e.g. no word reaches min_df
            raise DataError(f"{path}: cannot build a vocabulary ({exc})") from exc
    k = int(params["oov_buckets"])

    def counts(texts: list[str]) -> np.ndarray:
        parts = []
        for v in (vectorizer, chars):
            if v is not None:
                parts.append(v.transform(texts).toarray())
                if k:
                    parts.append(_oov_buckets(v, texts, k, binary))
        return np.hstack(parts) if len(parts) > 1 else parts[0]

    train_x, test_x = counts(x_tr), counts(x_te)
    if params["features"] == "tfidf":
        tfidf = TfidfTransformer(norm="l2", smooth_idf=True, sublinear_tf=params["sublinear_tf"])
        tfidf.fit(counts(x_vocab))
        train_x, test_x = (
            tfidf.transform(x).toarray().astype(np.float32) for x in (train_x, test_x)
        )
    return vectorizer, chars, train_x, test_x


def _oov_buckets(vectorizer, texts: list[str], k: int, binary: bool = True) -> np.ndarray:
    """(N, k): column crc32(token) mod k is 1 (or, not ``binary``, counts the tokens) when a
    token outside the vocabulary hashes there (crc32, not hash(): Python salts str hashes per
    process)."""
    analyze, vocab = vectorizer.build_analyzer(), vectorizer.vocabulary_
    out = np.zeros((len(texts), k), dtype=np.float32)
    for row, text in enumerate(texts):
        for token in analyze(text):
            if token not in vocab:
                j = zlib.crc32(token.encode("utf-8")) % k
                out[row, j] = 1.0 if binary else out[row, j] + 1.0
    return out


def column_names(vectorizer, chars, k: int) -> list[str]:
    names = vectorizer.get_feature_names_out().tolist() + [f"<oov:{j}>" for j in range(k)]
    if chars is not None:
        names += [f"<char:{g}>" for g in chars.get_feature_names_out().tolist()]
        names += [f"<char-oov:{j}>" for j in range(k)]
    return names


def token_ids(vectorizer, splits: list[list[str]], max_len: int):
    """(N, max_len) int64 ids in the vectorizer's vocabulary, and token counts before cutting."""
    analyze = vectorizer.build_analyzer()  # the vectorizer's own tokenisation, nothing else
    vocab = vectorizer.vocabulary_
    ids, lengths = [], []
    for texts in splits:
        out = np.full((len(texts), max_len), PAD, dtype=np.int64)
        n_tokens = np.zeros(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            tokens = analyze(text)
            n_tokens[row] = len(tokens)
            kept = [vocab.get(t, OOV - FIRST_ID) + FIRST_ID for t in tokens[:max_len]]
            out[row, : len(kept)] = kept
        ids.append(out)
        lengths.append(n_tokens)
    return ids, lengths


def preprocessing(vectorizer, chars, params, train_x: np.ndarray, test_x: np.ndarray) -> dict:
    lo = float(min(train_x.min(initial=0.0), test_x.min(initial=0.0)))
    hi = float(max(train_x.max(initial=0.0), test_x.max(initial=0.0)))
    out = {
        "features": params["features"],
        "vectorizer": "CountVectorizer"
        + (" + TfidfTransformer" if params["features"] == "tfidf" else ""),
        "lowercase": True,
        "token_pattern": vectorizer.token_pattern,
        "lemmatization": "none",
        "stop_words": None,
        "vocabulary_from": VOCABULARY_FROM[params["vocabulary"]],
        "min_df": params["min_df"],
        "max_features": params["max_features"],
        "vocab_size": len(vectorizer.vocabulary_),
        "oov_buckets": int(params["oov_buckets"]),
        "char_ngrams": None
        if chars is None
        else {
            "analyzer": "char (lower-cased, runs of white space as one space)",
            "ngram_range": list(chars.ngram_range),
            "vocab_size": len(chars.vocabulary_),
            "oov_buckets": int(params["oov_buckets"]),
        },
        "n_features": int(train_x.shape[1]),
        "value_range": [lo, hi],
        "values_in_unit_interval": lo >= 0.0 and hi <= 1.0,
        "max_len": params["max_len"],
    }
    if params["features"] == "tfidf":
        out["tfidf"] = {
            "norm": "l2",
            "smooth_idf": True,
            "sublinear_tf": bool(params["sublinear_tf"]),
            "idf_from": VOCABULARY_FROM[params["vocabulary"]],
        }
    return out


def length_stats(lengths: list[np.ndarray], max_len: int) -> dict[str, Any]:
    both = np.concatenate(lengths)
    q = np.percentile(both, [50, 90, 99]) if both.size else [0, 0, 0]
    return {
        "tokens_per_message": {
            "median": float(q[0]),
            "p90": float(q[1]),
            "p99": float(q[2]),
            "max": int(both.max(initial=0)),
        },
        "truncated_messages": int((both > max_len).sum()),
        "truncated_fraction": float((both > max_len).mean()) if both.size else 0.0,
    }
