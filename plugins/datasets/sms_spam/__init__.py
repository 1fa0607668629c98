"""SMS Spam Collection v.1: 5,574 English text messages, 747 of them spam (Almeida, Gómez
Hidalgo & Yamakami, 2011; UCI Machine Learning Repository).

Reads the publisher's file ``SMSSpamCollection`` (one ``label<TAB>text`` line per message,
labels ``ham``/``spam``, UTF-8, no header) from ``data_dir / "sms-spam"``, downloading the
publisher's zip and extracting only that file when allowed. A malformed line is an error naming
the file and line, or, with the protocol parameter ``skip_bad_lines``, skipped and counted in
the provenance. There is no official split: the protocol defines a stratified one.

Preprocessing follows the lecture's unsupervised spam experiment, minus its lemmatisation
(scikit-learn has none; the provenance says so): lower-case, scikit-learn's default token
pattern, a vocabulary built on the training split only (``min_df``, ``max_features``), and a
binary bag of words (or counts, or TF-IDF). The same vocabulary gives token-id sequences for
sequence models. Spam is the anomaly. sms-spam-v2 builds the vocabulary from the training
split's ham only and adds hashed out-of-vocabulary columns (see ``SMS_V2``). sms-spam-v5
removes repeated messages before the split (``dedup``; rule in ``source.deduplicate``) and
says in the provenance's ``duplicates`` how many of each class went.

Choosing settings without the test set: the parameter ``holdout="dev"`` drops the test split
before any vectorizer sees it and evaluates on a stratified carve of the training split, e.g.
``SMS_V2.with_overrides(params={**SMS_V2.params, "holdout": "dev"})`` through
``aebench.run.runner.plan(..., protocol_overrides=...)``. Such a variant is a development tool,
not a protocol: it is registered nowhere and its figures are not results.

The package reads top to bottom as a load does: ``protocols`` (the protocols and their
parameters), ``source`` (the publisher's file: download, checks, parsing, provenance),
``features`` (bag of words, hashed unseen tokens, character n-grams, token ids), then the
data set that puts them together and its registration, here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from aebench import AnomalyTask, Dataset, Protocol, Splits, carve_validation, hookimpl
from aebench_plugins.datasets.sms_spam.features import (
    FIRST_ID,
    OOV,
    PAD,
    bag_of_words,
    column_names,
    length_stats,
    preprocessing,
    token_ids,
)
from aebench_plugins.datasets.sms_spam.protocols import (
    FEATURES,
    HOLDOUTS,
    SMS_CONTAMINATED_MATCHED_V1,
    SMS_CONTAMINATED_V1,
    SMS_CONTAMINATED_V2,
    SMS_CONTAMINATED_V3,
    SMS_CONTAMINATED_V4,
    SMS_CONTAMINATED_V5,
    SMS_V1,
    SMS_V2,
    SMS_V3,
    SMS_V4,
    SMS_V5,
    VOCABULARIES,
    protocol_params,
)
from aebench_plugins.datasets.sms_spam.source import (
    FILE_NAME,
    LABELS,
    OFFICIAL_COUNTS,
    deduplicate,
    fetch,
    file_provenance,
    parse,
    split,
)

__all__ = [
    "FEATURES",
    "FILE_NAME",
    "FIRST_ID",
    "HOLDOUTS",
    "LABELS",
    "OFFICIAL_COUNTS",
    "OOV",
    "PAD",
    "SMS_CONTAMINATED_MATCHED_V1",
    "SMS_CONTAMINATED_V1",
    "SMS_CONTAMINATED_V2",
    "SMS_CONTAMINATED_V3",
    "SMS_CONTAMINATED_V4",
    "SMS_CONTAMINATED_V5",
    "SMS_V1",
    "SMS_V2",
    "SMS_V3",
    "SMS_V4",
    "SMS_V5",
    "SMSSpam",
    "VOCABULARIES",
    "aebench_register_datasets",
]


class SMSSpam(Dataset):
    """SMS Spam Collection v.1 (UCI): bag of words and token ids; spam is the anomaly."""

    def load(self, protocol: Protocol, data_dir: Path, download: bool = True) -> Splits:
        params = protocol_params(protocol)
        folder = Path(data_dir) / "sms-spam"
        path = folder / FILE_NAME
        downloaded = None if path.is_file() else fetch(folder, download)
        texts, labels, numbers, bad = parse(path, params["skip_bad_lines"])
        read = file_provenance(path, texts, labels, bad, downloaded)  # the file, as published
        if params["dedup"] == "exact":  # before the split: no message on both sides of it
            keep, removed = deduplicate(texts, labels)
            read["duplicates"] = removed
            texts, labels, numbers = [texts[i] for i in keep], labels[keep], numbers[keep]
        tr, te = split(path, labels, params["test_fraction"], protocol.split_seed)
        if params["holdout"] == "dev":  # test messages dropped before any vectorizer sees them
            inner, dev = split(path, labels[tr], params["test_fraction"], protocol.split_seed + 1)
            tr, te = tr[inner], tr[dev]
        x_tr, x_te = [texts[i] for i in tr], [texts[i] for i in te]
        x_vocab = [x_tr[i] for i in _vocabulary_rows(params["vocabulary"], labels[tr], protocol)]
        vectorizer, chars, train_x, test_x = bag_of_words(path, params, x_vocab, x_tr, x_te)
        ids, lengths = token_ids(vectorizer, [x_tr, x_te], params["max_len"])
        train_y, test_y = torch.from_numpy(labels[tr]), torch.from_numpy(labels[te])
        provenance = {
            **read,
            "split": f"stratified {1 - params['test_fraction']:.0%}/"
            f"{params['test_fraction']:.0%}, seed {protocol.split_seed} (sklearn train_test_split)"
            + _DEV_NOTE.get(params["holdout"], ""),
            "n_train": len(tr),
            "n_test": len(te),
            "n_train_normal": int((train_y == 0).sum()),
            "n_test_anomalous": int((test_y == 1).sum()),
            # the collection repeats some messages; a repeat across the split is an easy hit
            "test_messages_also_in_train": int(np.isin(x_te, x_tr).sum()),
            **preprocessing(vectorizer, chars, params, train_x, test_x),
            **length_stats(lengths, params["max_len"]),
        }
        return Splits(
            train_x=torch.from_numpy(train_x),
            test_x=torch.from_numpy(test_x),
            shape=(train_x.shape[1],),
            kinds=frozenset({"vector", "tokens"}),
            provenance=provenance,
            train_y=train_y,
            test_y=test_y,
            anomaly=AnomalyTask(
                description="spam is the anomaly",
                train_normal=train_y == 0,
                test_anomalous=test_y == 1,
            ),
            extras={
                "train_tokens": torch.from_numpy(ids[0]),
                "test_tokens": torch.from_numpy(ids[1]),
                "train_lengths": torch.from_numpy(lengths[0]),
                "test_lengths": torch.from_numpy(lengths[1]),
                "vocab_size": len(vectorizer.vocabulary_) + FIRST_ID,
                "vocabulary": column_names(vectorizer, chars, params["oov_buckets"]),
                # each example's line in the file, to trace a score back to its message
                "train_line_numbers": torch.from_numpy(numbers[tr]),
                "test_line_numbers": torch.from_numpy(numbers[te]),
            },
        )


_DEV_NOTE = {
    "dev": "; DEVELOPMENT holdout: the test split is dropped before preprocessing, and the "
    "training split is split again the same way (split seed + 1) into training and development "
    "messages",
}


def _vocabulary_rows(source: str, train_labels: np.ndarray, protocol: Protocol) -> np.ndarray:
    """Indices into the training split of the messages the vocabulary is built from."""
    rows = np.arange(len(train_labels))
    if source == "training":
        return rows
    # the harness's own carve (same function, fraction and seed), so "fit" is what models fit on
    fit, _ = carve_validation(len(train_labels), protocol.val_fraction, protocol.split_seed)
    rows = fit.numpy()
    return rows if source == "fit" else rows[train_labels[rows] == LABELS["ham"]]


@hookimpl
def aebench_register_datasets(register):
    register(
        "sms-spam",
        SMSSpam,
        # newest first: `-d sms-spam` and `-p sms-spam` (a name without a version) mean v5;
        # the contamination-matched variant last, so it is the default of nothing
        protocols=[
            SMS_V5,
            SMS_CONTAMINATED_V5,
            SMS_V4,
            SMS_CONTAMINATED_V4,
            SMS_V3,
            SMS_CONTAMINATED_V3,
            SMS_V2,
            SMS_CONTAMINATED_V2,
            SMS_V1,
            SMS_CONTAMINATED_V1,
            SMS_CONTAMINATED_MATCHED_V1,
        ],
    )
