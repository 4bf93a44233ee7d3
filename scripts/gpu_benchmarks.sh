#!/usr/bin/env bash
# The benchmark runs of docs/benchmarks.md on a lent GPU, in one command of the device tool:
# scripts/gpu_check.py --quick first, then each search and retrain of options/benchmarks/ in turn
# (each continuing from what benchmarks/records/ or an earlier call kept: --auto_resume), until
# DEADLINE seconds have passed. What a fresh clone needs to continue or publish them (records,
# newest states, finished weights: benchmarks/keep_run.py) comes back as $OUT/records.tar.gz;
# `tar xzf` it here, over benchmarks/records/, and commit.
#
# Prepare here first (the device machine reaches no package index; its python3 holds torch):
#   echo /.whl/ >> .git/info/exclude && bash scripts/gpu_benchmarks.sh --wheels
#   tar czf .data.tgz datasets/dncnn_gray/{train,arch}.lmdb datasets/dncnn_gray/BSD68   # about 20 MB
#   echo /.data.tgz >> .git/info/exclude
# then the device call: carry [.whl, .data.tgz], command `bash scripts/gpu_benchmarks.sh 480`.
# (The gray runs only: the colour training set, 102 MB as an LMDB, is over what a call carries.)
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--wheels" ]; then  # here: the plugin's needs that the device image lacks, for its Python 3.12
  python3 -m pip wheel --no-deps -w .whl basicsr==1.4.2 addict yapf termcolor >/dev/null
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl lmdb mmengine
  ls .whl
  exit
fi

DEADLINE=${1:-480}
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
start=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
tar xzf .data.tgz
python3 benchmarks/keep_run.py restore
python3 scripts/gpu_check.py --quick --out "$OUT/gpu_check.json" > "$OUT/gpu_check.log" 2>&1
echo "gpu_check: $? ($(( $(date +%s) - start )) s)"

# most wanted first: the gray sigma-25 entry, the larger gray one, the blind gray one
for run in gray_s25 gray_s25_large gray_blind; do
  for step in search train; do
    left=$(( DEADLINE - ($(date +%s) - start) ))
    [ "$left" -gt 30 ] || break 2
    name=benchmark_${step}_${run}
    [ -f "experiments/$name/models/net_g_latest.pth" ] && continue  # finished
    timeout "$left" python3 -m clearer_basicsr.train -opt "options/benchmarks/${step}_${run}.yml" --auto_resume \
      --force_yml logger:save_checkpoint_freq=500 > "$OUT/$name.log" 2>&1
    echo "$name: exit $? at $(( $(date +%s) - start )) s"
  done
done
names=$(ls experiments | grep '^benchmark_' | grep -v _archived_)
python3 benchmarks/keep_run.py save $names  # records, newest states, finished weights: small
tar czf "$OUT/records.tar.gz" benchmarks/records
ls -la "$OUT"
