#!/usr/bin/env bash
# The adapter bench of issue 6: a names GPT pretrained by `engine train` on female first names is adapted to male first
# names by every adapter method and by full fine-tuning, same steps, the best of a small learning-rate sweep per method.
# Writes bench/finetune.md (one row per method at its best learning rate, then every run).
#   bench/finetune.sh [pretrain-steps] [finetune-steps]      (defaults 300 and 100; 2 cores: about 6 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
PRETRAIN=${1:-300}
STEPS=${2:-100}
OUT=bench/finetune.md
WORK=$(mktemp -d)
dotnet build src/Cli/Engine.Cli.csproj -c Release -v q > /dev/null
ENGINE="dotnet src/Cli/bin/Release/net10.0/engine.dll"
$ENGINE train --data female --steps "$PRETRAIN" --eval-every "$PRETRAIN" --samples 0 --out "$WORK/female.safetensors" > "$WORK/pretrain.log"
declare -A LRS=([full]="1e-3 3e-3 1e-2" [lora]="3e-3 1e-2 3e-2" [dora]="3e-3 1e-2 3e-2" [adalora]="3e-3 1e-2 3e-2"
                [vera]="1e-2 3e-2 1e-1" [ia3]="1e-2 3e-2 1e-1" [prefix]="1e-2 3e-2 1e-1" [prompt]="1e-2 3e-2 1e-1"
                [bottleneck]="3e-3 1e-2 3e-2")
runs="| method | lr | trainable | total | trainable % | val loss before | val loss after | ms/step | tokens/s | peak MiB |\n|---|---|---|---|---|---|---|---|---|---|\n"
declare -A BEST
for method in full lora dora adalora vera ia3 prefix prompt bottleneck; do
  for lr in ${LRS[$method]}; do
    log="$WORK/$method-$lr.log"
    $ENGINE finetune --checkpoint "$WORK/female.safetensors" --data male --adapter "$method" --steps "$STEPS" --lr "$lr" > "$log"
    row=$(awk -v m="$method" -v lr="$lr" '
      /trainable params:/ { gsub(",", ""); t=$3; a=$7; p=$10 }
      /validation loss before:/ { b=$4 }
      /validation loss after/ { f=$6 }
      /step time:/ { ms=$3; tps=substr($5, 2); mem=$(NF-1) }
      END { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", m, lr, t, a, p, b, f, ms, tps, mem }' "$log")
    runs+="$row\n"
    after=$(echo "$row" | awk -F'|' '{ gsub(/ /, "", $8); print $8 }')
    if [[ -z "${BEST[$method]:-}" ]] || awk -v a="$after" -v b="$(echo "${BEST[$method]}" | awk -F'|' '{ gsub(/ /, "", $8); print $8 }')" 'BEGIN { exit !(a < b) }'; then
      BEST[$method]="$row"
    fi
  done
done
{
  echo "## Adapter methods vs full fine-tuning: female → male first names"
  echo
  echo "Pretrained: \`engine train --data female --steps $PRETRAIN\` (defaults: d=64, 4 layers, 4 heads, context 32)."
  echo "Adapted: \`engine finetune --data male --steps $STEPS\` (batch 32, AdamW without weight decay, warm-up + cosine), rank 8"
  echo "(VeRA 64, prefix/prompt 8 virtual tokens), best learning rate of the sweep per method. $(nproc) cores, $(date -u +%Y-%m-%d)."
  echo
  echo "| method | lr | trainable | total | trainable % | val loss before | val loss after | ms/step | tokens/s | peak MiB |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for method in full lora dora adalora vera ia3 prefix prompt bottleneck; do echo "${BEST[$method]}"; done
  echo
  echo "### Every run"
  echo
  printf "%b" "$runs"
} > "$OUT"
rm -rf "$WORK"
echo "wrote $OUT"
