#!/usr/bin/env bash
# Regenerate everything under results/ from scratch: every protocol, every built-in model,
# the protocols' three seeds, then the published tables, ranks and pictures.
#   results/regenerate.sh [DATA_DIR]          (default: ../shared/data, else $AEBENCH_DATA)
#   results/regenerate.sh --check [DATA_DIR]  re-run one cheap board (digits-v1, seed 0) and
#                                             compare every non-timing metric with the
#                                             published records (python -m aebench.reproduce)
# Runs resume: a second call after an interrupt only runs what is missing, and a record made
# by another implementation of its model is kept aside and rerun. Set FRESH=1 to start from
# an empty results/records. JOBS (default 2) runs that many runs at once.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --check ]; then
    shift
    data="${1:-${AEBENCH_DATA:-../shared/data}}"
    exec python -m aebench.reproduce -p digits-v1 --seeds 0 --against results/records \
        --data-dir "$data"
fi
data="${1:-${AEBENCH_DATA:-../shared/data}}"
[ "${FRESH:-0}" = 1 ] && rm -rf results/records
for protocol in digits-v1 digits-novelty-v1 sms-spam-v1 sms-spam-contaminated-v1 sms-spam-v2 \
                sms-spam-contaminated-v2 sms-spam-v3 sms-spam-contaminated-v3 mnist-v1 mnist-novelty-v1 \
                mnist-oneclass-v1 fashion-mnist-v1 fashion-mnist-novelty-v1 fashion-mnist-oneclass-v1; do
    aebench run -p "$protocol" --data-dir "$data" --results-dir results/records --quiet \
        --jobs "${JOBS:-2}" --threads 1
done
# superseded records (another implementation's) stay in git history, not in the tree
find results/records -name '*.superseded-*' -delete
aebench publish --results-dir results/records --out-dir results
