#!/usr/bin/env bash
# Distributed training (a search or a retrain) with the plugin's entry point, as BasicSR's own
# scripts/dist_train.sh does it: one process per GPU, started by torchrun.
#
#   scripts/dist_train.sh PROCESSES_PER_MACHINE OPTION_FILE [flags of clearer_basicsr.train]
#
# One machine:   scripts/dist_train.sh 4 options/search_clearer_denoise.yml
# Two machines:  on each, with the same MASTER_ADDR (the first machine) and PORT:
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 scripts/dist_train.sh 8 options/search_clearer_denoise.yml
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 scripts/dist_train.sh 8 options/search_clearer_denoise.yml
# Without CUDA the processes share the CPU and talk over gloo. PYTHON picks the interpreter.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 PROCESSES_PER_MACHINE OPTION_FILE [flags of clearer_basicsr.train, e.g. --auto_resume]" >&2
  exit 2
fi
processes=$1
option_file=$2
shift 2
exec "${PYTHON:-python}" -m torch.distributed.run \
  --nproc_per_node="$processes" \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-4321}" \
  -m clearer_basicsr.train -opt "$option_file" --launcher pytorch "$@"
