#!/usr/bin/env bash
# Data parallelism under torchrun (docs/DISTRIBUTED.md), on 2 local processes over loopback:
# 2 ranks with global batch B end where 1 process with batch B ends (classify without BatchNorm,
# classify with --sync-bn, translate); --accum-steps 2 equals one step of B; the sharded
# evaluation scores as one process does; only rank 0 writes the run folder; a worker killed
# mid-run under --max_restarts 1 is restarted, resumes, and ends with the uninterrupted weights.
set -u
W=${ZOO_WORK:-/tmp/zoo-work}/distributed
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
WEIGHTS=${ZOO_WEIGHTS:?path of the zoo_weights test tool}
TORCHRUN=${ZOO_TORCHRUN:-torchrun}

if ! command -v "$TORCHRUN" > /dev/null; then echo "SKIP: no torchrun (python3-torch)"; exit 0; fi
# Debian's torchrun 1.13: underscore flags, and --redirects 1 --tee 1 (its log-redirect parsing
# fails under Python 3.11 otherwise). A port of our own per launch.
port=$((29700 + RANDOM % 200))
launch() {
  port=$((port + 1))
  "$TORCHRUN" --no_python --nproc_per_node 2 --redirects 1 --tee 1 --master_port "$port" "$@" > launch.txt 2>&1
}
same_weights() { diff -q <("$WEIGHTS" "$1" | tail -n +2) <("$WEIGHTS" "$2" | tail -n +2) > /dev/null; }
# within LIMIT A B: the weights of checkpoints A and B differ by less than LIMIT relative to
# B's, over the whole model (||a - b|| / ||b||).
within() {
  local measured; measured=$("$WEIGHTS" --diff "$2" "$3" | awk '/^relative_difference/ {print $2}')
  echo "    relative difference $measured (limit $1)"
  $PY -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$measured" "$1"
}

"$ZOO" data synth --kind shapes --n 96 --image-size 32 --out shapes > /dev/null
VIT=(train --task classify --model vit_tiny_patch4_32 --data shapes --steps 3 --batch-size 8 --workers 0 --opt sgd --lr 0.05 --deterministic)
expect 0 "" "${VIT[@]}" --out vit1
check "2 processes launched" launch "$ZOO" "${VIT[@]}" --out vit2
check "2 ranks x 4 = 1 process x 8 (ViT, SGD, 3 steps)" within 1e-5 vit2/last.ckpt vit1/last.ckpt
expect 0 "" "${VIT[@]}" --accum-steps 2 --out vit_accum
check "2 accumulated micro-batches of 4 = 1 step of 8" within 1e-5 vit_accum/last.ckpt vit1/last.ckpt
check "train.log names the processes and backend" grep -q "data parallel: 2 processes (gloo" vit2/train.log
check "config.json records world_size 2 and the backend" test "$(json x 'd["world_size"], d["dist_backend"]' vit2/config.json)" = "(2, 'auto')"
check "rank 0 alone wrote the log (one start line)" test "$(grep -c '^training ' vit2/train.log)" = 1
# The sharded evaluation scores as one process does on the same weights.
"$ZOO" eval --checkpoint vit2/last.ckpt --json > eval_vit2.json
check "sharded validation = one process's (loss, top1)" $PY -c '
import json, sys
logged = [json.loads(l) for l in open("vit2/metrics.jsonl")][-1]
alone = json.load(open("eval_vit2.json"))["metrics"]
examples = json.load(open("eval_vit2.json"))["examples"]
ok = abs(logged["val_loss"] - alone["loss"]) <= 1e-6 * abs(alone["loss"]) and logged["val_top1"] == alone["top1"] and logged["examples"] == examples
print("    logged", logged["val_loss"], logged["val_top1"], "alone", alone["loss"], alone["top1"]); sys.exit(0 if ok else 1)'

RES=(train --task classify --model resnet18_cifar --data shapes --steps 1 --batch-size 8 --workers 0 --opt sgd --lr 0.005 --deterministic)
expect 0 "" "${RES[@]}" --out res1
check "2 processes launched (--sync-bn)" launch "$ZOO" "${RES[@]}" --sync-bn --out res2
check "2 ranks with --sync-bn = 1 process (ResNet-18)" within 1e-5 res2/last.ckpt res1/last.ckpt

TR=(train --task translate --model transformer_small --synth-size 256 --steps 3 --batch-size 16 --workers 0 --set encoder_layers=1
    --set decoder_layers=1 --set width=32 --set heads=4 --set ffn=48 --set dropout=0 --opt sgd --lr 0.1 --deterministic)
expect 0 "" "${TR[@]}" --out tr1
check "2 processes launched (translate)" launch "$ZOO" "${TR[@]}" --out tr2
check "2 ranks = 1 process (Transformer, token-weighted)" within 1e-5 tr2/last.ckpt tr1/last.ckpt

# A worker SIGKILLed after step 3 (rank 1, first attempt only): torchrun restarts both, they
# resume from step 2's checkpoint and end where the uninterrupted run ends.
cat > killer.sh <<SCRIPT
#!/usr/bin/env bash
if [[ \$RANK == 1 && \${TORCHELASTIC_RESTART_COUNT:-0} == 0 ]]; then export ZOO_FAULT=kill-after-step=3; fi
exec "$ZOO" "\$@"
SCRIPT
chmod +x killer.sh
EL=(train --task classify --model vit_tiny_patch4_32 --data shapes --steps 5 --batch-size 8 --workers 0 --opt sgd --lr 0.05 --deterministic
    --save-every-steps 2)
check "uninterrupted 2-process run" launch "$ZOO" "${EL[@]}" --out el_whole
check "killed run: torchrun --max_restarts 1 ends it" launch --max_restarts 1 ./killer.sh "${EL[@]}" --out el_killed
check "the restart resumed the run" grep -q "resumed .*at step 2" el_killed/train.log
check "the killed-and-resumed run ends with the uninterrupted weights" same_weights el_killed/last.ckpt el_whole/last.ckpt

# bf16 autocast trains (the loss after 3 steps near fp32's), also through the custom autograd
# functions of Show, Attend and Tell and Swin's LayerNorms after half-width layers.
expect 0 "" "${VIT[@]}" --precision bf16 --out vit_bf16
check "train.log names the precision" grep -q "precision bf16" vit_bf16/train.log
check "bf16's loss after 3 steps within 2% of fp32's" $PY -c '
import json, sys
a, b = [[json.loads(l) for l in open(f + "/metrics.jsonl")][-1]["val_loss"] for f in ("vit_bf16", "vit1")]
print("    val_loss bf16", a, "fp32", b); sys.exit(0 if abs(a - b) <= 0.02 * b else 1)'
expect 0 "" train --task caption --model show_attend_tell --synth-size 64 --steps 1 --batch-size 8 --workers 0 --precision bf16 --out sat_bf16
expect 0 "" train --task classify --model swin_tiny_patch2_window4_32 --data shapes --steps 1 --batch-size 8 --workers 0 --precision bf16 --out swin_bf16

expect 2 "--batch-size 1 is the global batch" train --task classify --model vit_tiny_patch4_32 --data shapes --steps 1 --batch-size 1 --accum-steps 2 --out never
expect 2 "invalid --precision 'fp8'" train --task classify --model vit_tiny_patch4_32 --data shapes --steps 1 --precision fp8 --out never
expect 2 "fp16 needs a CUDA device" train --task classify --model vit_tiny_patch4_32 --data shapes --steps 1 --precision fp16 --device cpu --out never
finish distributed
