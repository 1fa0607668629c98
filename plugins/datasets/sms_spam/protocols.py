"""sms-spam's protocols, and the parameters a protocol may set (checked when a data set loads)."""

from __future__ import annotations

import dataclasses
from typing import Any

from aebench import AebenchError, Protocol

SMS_V1 = Protocol(
    name="sms-spam",
    version=1,
    dataset="sms-spam",
    task="anomaly",
    anomaly_train="normal",
    threshold_quantile=0.95,
    code_size=32,
    hidden_size=256,
    budget_samples=40_000,
    batch_size=64,
    lr=1e-3,
    seeds=(0, 1, 2),
    val_fraction=0.1,
    binarization="none",  # a binary bag of words is binary already
    iwae_k=1000,
    ais_chains=100,
    ais_betas=3000,
    ais_runs=3,
    eval_batch_size=512,
    params={
        "features": "binary",
        "min_df": 2,
        "max_features": None,
        "test_fraction": 0.3,
        "max_len": 64,
        "skip_bad_lines": False,
    },
    description="SMS Spam Collection, stratified 70/30 split, binary bag of words (train "
    "vocabulary, min_df 2); spam is the anomaly; train on ham only; code 32, 40k samples",
)
#: The lecture's setting: the training split is used whole, so ~13% of it is spam.
SMS_CONTAMINATED_V1 = dataclasses.replace(
    SMS_V1,
    name="sms-spam-contaminated",
    anomaly_train="all",
    params=dict(SMS_V1.params),
    description="SMS Spam Collection as sms-spam-v1, but trained on all training messages, "
    "spam included (~13% contamination), as in the lecture",
)
#: sms-spam-v1 fits its vocabulary on the whole training split, spam included, although the
#: models may train on ham only. The ham-only training set and the training split then differ
#: exactly by the training spam, so every word that occurs only in training spam is a column
#: that is never on in training: a spam lexicon built with the training labels. Any score that
#: weights rare features (PyOD's standardised distance, a Bernoulli likelihood) reads it. v2
#: builds the vocabulary from the normal training messages, every word seen in them (min_df 1),
#: and hashes the words it has never seen into 64 out-of-vocabulary columns (as in deployment:
#: what is new is new, whoever wrote it); reconstruction error is weighted by inverse training
#: variance, the same way for every model. The likelihood estimators are cut down: anomaly
#: boards do not show likelihoods, so their cost buys nothing.
SMS_V2 = dataclasses.replace(
    SMS_V1,
    version=2,
    anomaly_score_weighting="inverse-variance",
    iwae_k=100,
    iwae_examples=200,
    ais_chains=50,
    ais_betas=1000,
    ais_runs=1,
    params={**SMS_V1.params, "vocabulary": "fit-normal", "min_df": 1, "oov_buckets": 64},
    description="SMS Spam Collection, stratified 70/30 split, binary bag of words over every "
    "word of the training split's ham plus 64 hashed out-of-vocabulary columns; spam is the "
    "anomaly; train on ham only; reconstruction error weighted by 1/(training variance + 1/n); "
    "code 32, 40k samples",
)


def _contaminated(base: Protocol, description: str) -> Protocol:
    """``base``'s contaminated variant: trained on all training messages; with no label used,
    the vocabulary comes from every message models fit on."""
    return dataclasses.replace(
        base,
        name="sms-spam-contaminated",
        anomaly_train="all",
        params={**base.params, "vocabulary": "fit"},
        description=description,
    )


SMS_CONTAMINATED_V2 = _contaminated(
    SMS_V2,
    "SMS Spam Collection as sms-spam-v2, but trained on all training messages, "
    "spam included (~13% contamination), with the vocabulary of every message models fit on",
)

#: sms-spam-v3 adds the bag of character 1- and 2-grams to v2's words (binary, the ham
#: vocabulary, 64 hashed buckets for unseen n-grams): digits, currency signs, punctuation and
#: odd spellings, which the word tokeniser drops or scatters into one-off words, become columns
#: a model trained on ham has seen (or has never seen). Chosen on the development split
#: (``holdout="dev"``) among v2 and words + character n-grams up to 1, 2 and 3
#: (results/scripts/sms_dev_screen.py); the test split was not read to choose it.
SMS_V3 = dataclasses.replace(
    SMS_V2,
    version=3,
    params={**SMS_V2.params, "char_ngrams": 2},
    description="SMS Spam Collection, stratified 70/30 split, binary bag of words and of "
    "character 1-2-grams, each over the training split's ham plus 64 hashed unseen-token "
    "columns; spam is the anomaly; train on ham only; reconstruction error weighted by "
    "1/(training variance + 1/n); code 32, 40k samples",
)
SMS_CONTAMINATED_V3 = _contaminated(
    SMS_V3,
    "SMS Spam Collection as sms-spam-v3, but trained on all training messages, "
    "spam included (~13% contamination), with the vocabularies of every message models fit on",
)

#: sms-spam-v4 and its contaminated variant: v3 with a split drawn per run seed
#: (``split_per_seed``; the split seed derived from the run seed and recorded), as the repeated
#: random splits of PyOD's and ADBench's benchmarks. On other stratified splits of v3 one
#: model's AUROC ranged over ten times the gaps one fixed split marks. Fused Adam
#: (``optimizer_impl``); every other setting as v3.
SMS_V4 = dataclasses.replace(
    SMS_V3,
    version=4,
    split_per_seed=True,
    optimizer_impl="fused",
    description="SMS Spam Collection as sms-spam-v3 (words and character 1-2-grams over the "
    "training ham, hashed unseen-token columns, train on ham only, inverse-variance weighted "
    "error), with a stratified 70/30 split drawn per seed",
)
SMS_CONTAMINATED_V4 = dataclasses.replace(
    SMS_CONTAMINATED_V3,
    version=4,
    split_per_seed=True,
    optimizer_impl="fused",
    description="SMS Spam Collection as sms-spam-contaminated-v3 (trained on all training "
    "messages, ~13% spam), with a stratified 70/30 split drawn per seed",
)
#: sms-spam-contaminated-v4 with a contamination-matched threshold: the 95 % quantile of
#: contaminated calibration scores flags ~5 % of test messages, which caps recall at ~0.37 and
#: F1 at ~0.54 with 13 % spam; this variant flags above the (1 − c) quantile, c the calibration
#: slice's spam rate, taken as known (label information at the data-set level, as PyOD's
#: ``contamination`` parameter). Registered after the other protocols: no default changes.
SMS_CONTAMINATED_MATCHED_V1 = dataclasses.replace(
    SMS_CONTAMINATED_V4,
    name="sms-spam-contaminated-matched",
    version=1,
    contamination_matched=True,
    description="SMS Spam Collection as sms-spam-contaminated-v4, but the threshold is the "
    "(1 - c) quantile of calibration scores, c the calibration slice's spam rate taken as "
    "known (data-set-level label information, as PyOD's contamination parameter)",
)

#: sms-spam-v5 and its contaminated variant: v4 with repeated messages removed before the split
#: (``dedup="exact"``, rule in ``source.deduplicate``) and five seeds. The collection repeats
#: messages (404 of its 5,574 lines repeat an earlier one once lower-cased, 310 ham and 94
#: spam; no text is published under both labels), so on v4's splits 147-176 of the 1,673 test
#: messages, and 29-44 of the 224 test spam, had a copy in training: an easy hit for any
#: model that remembers its training set. Every other setting as v4. No contamination-matched
#: v5: on v4 its records hold the same AUROC and AUPRC as sms-spam-contaminated-v4's for every
#: model but the non-reproducible lstm_ae (same training, same scores; only the threshold
#: differs), so a second board would repeat every training run to change F1 alone.
SMS_V5 = dataclasses.replace(
    SMS_V4,
    version=5,
    seeds=(0, 1, 2, 3, 4),
    params={**SMS_V4.params, "dedup": "exact"},
    description="SMS Spam Collection as sms-spam-v4 (words and character 1-2-grams over the "
    "training ham, hashed unseen-token columns, train on ham only, inverse-variance weighted "
    "error, a stratified 70/30 split per seed), with repeated messages removed before the "
    "split; 5 seeds",
)
SMS_CONTAMINATED_V5 = dataclasses.replace(
    SMS_CONTAMINATED_V4,
    version=5,
    seeds=(0, 1, 2, 3, 4),
    params={**SMS_CONTAMINATED_V4.params, "dedup": "exact"},
    description="SMS Spam Collection as sms-spam-contaminated-v4 (trained on all training "
    "messages, ~13% spam, a stratified 70/30 split per seed), with repeated messages removed "
    "before the split; 5 seeds",
)

FEATURES = ("binary", "counts", "tfidf")
#: What a protocol variant that leaves a parameter out gets. ``vocabulary``: the messages the
#: vocabulary is built from: "training" (the whole training split, as v1), "fit" (the training
#: split less the harness's validation slice, so calibration messages are as new to the
#: vocabulary as test messages) or "fit-normal" (the normal messages of "fit": under
#: normal-only training no feature may exist because of the anomalies).
#: ``oov_buckets``: k > 0 appends k binary columns; a token outside the vocabulary sets column
#: crc32(token) mod k, so "this message holds words never seen in training" stays visible.
#: ``sublinear_tf``: TF-IDF only, term frequency 1 + log(tf) (scikit-learn's ``sublinear_tf``).
#: ``char_ngrams``: n > 0 appends a bag of the character 1..n-grams of the lower-cased message
#: (scikit-learn's ``analyzer="char"``), built from the same messages, with the same
#: ``features``, ``min_df`` and ``oov_buckets`` (an unseen n-gram hashes into its own buckets).
#: ``holdout``: "test" evaluates on the protocol's test split; "dev" never reads the test split
#: (its messages are dropped before any vectorizer sees the data) and evaluates on a stratified
#: ``test_fraction`` carve of the training split (split seed + 1): a development split for
#: choosing settings without looking at the test set.
#: ``dedup``: "none" keeps every message of the file (v1-v4); "exact" removes repeated messages
#: before the split (see ``source.deduplicate`` for the rule).
PARAMS = {
    **SMS_V1.params,
    "vocabulary": "training",
    "oov_buckets": 0,
    "sublinear_tf": False,
    "char_ngrams": 0,
    "holdout": "test",
    "dedup": "none",
}
VOCABULARIES = ("training", "fit", "fit-normal")
HOLDOUTS = ("test", "dev")
DEDUPS = ("none", "exact")
VOCABULARY_FROM = {
    "training": "training split only",
    "fit": "training split less the validation slice",
    "fit-normal": "normal messages of the training split less the validation slice",
}


def protocol_params(protocol: Protocol) -> dict[str, Any]:
    """The protocol's parameters over the defaults, checked: a typo must not pass silently."""
    unknown = set(protocol.params) - set(PARAMS)
    if unknown:
        raise AebenchError(
            f"protocol {protocol.key}: unknown sms-spam param(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(PARAMS)}"
        )
    params = {**PARAMS, **protocol.params}
    if params["vocabulary"] not in VOCABULARIES:
        raise AebenchError(
            f"protocol {protocol.key}: vocabulary {params['vocabulary']!r} is not one of "
            f"{VOCABULARIES}"
        )
    if params["features"] not in FEATURES:
        raise AebenchError(
            f"protocol {protocol.key}: features {params['features']!r} is not one of {FEATURES}"
        )
    if params["dedup"] not in DEDUPS:
        raise AebenchError(
            f"protocol {protocol.key}: dedup {params['dedup']!r} is not one of {DEDUPS}"
        )
    if params["holdout"] not in HOLDOUTS:
        raise AebenchError(
            f"protocol {protocol.key}: holdout {params['holdout']!r} is not one of {HOLDOUTS}"
        )
    if int(params["oov_buckets"]) < 0 or int(params["char_ngrams"]) < 0:
        raise AebenchError(f"protocol {protocol.key}: oov_buckets and char_ngrams must be >= 0")
    if int(params["max_len"]) < 1 or not 0 < float(params["test_fraction"]) < 1:
        raise AebenchError(f"protocol {protocol.key}: need max_len >= 1 and 0 < test_fraction < 1")
    return params
