#!/usr/bin/env bash
# Regenerate everything under results/ from scratch: every protocol, every built-in model,
# the protocols' three seeds, then the published tables, ranks and pictures.
#   results/regenerate.sh [DATA_DIR]        (default: ../shared/data, else $AEBENCH_DATA)
# Runs resume: a second call after an interrupt only runs what is missing. Set FRESH=1 to
# start from an empty results/records.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-${AEBENCH_DATA:-../shared/data}}"
[ "${FRESH:-0}" = 1 ] && rm -rf results/records
for protocol in digits-v1 digits-novelty-v1 sms-spam-v1 sms-spam-contaminated-v1 sms-spam-v2 \
                sms-spam-contaminated-v2 sms-spam-v3 sms-spam-contaminated-v3 mnist-v1 mnist-novelty-v1; do
    aebench run -p "$protocol" --data-dir "$data" --results-dir results/records --quiet
done
aebench publish --results-dir results/records --out-dir results
