#!/usr/bin/env bash
# Training you can trust (docs/RELIABILITY.md): a run SIGKILLed at random moments, also in the
# middle of a save, and resumed each time ends bit for bit where the uninterrupted run ends;
# damaged checkpoints are named and skipped; SIGTERM and SIGINT save and exit 143 / 130; the
# non-finite guard; a full disk during a save; bad options.
set -u
W=${ZOO_WORK:-/tmp/zoo-work}/reliability
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
WEIGHTS=${ZOO_WEIGHTS:?path of the zoo_weights test tool}

same_weights() { diff -q <("$WEIGHTS" "$1") <("$WEIGHTS" "$2") > /dev/null; }
# metrics.jsonl without its timings.
metrics() { $PY -c 'import json,sys
for line in open(sys.argv[1]):
    d = json.loads(line); [d.pop(k) for k in ("eval_seconds", "elapsed_seconds", "run_seconds")]; print(json.dumps(d, sort_keys=True))' "$1"; }
# no_temporaries DIR: no NAME.tmp.PID under DIR; names any it finds, with their writers' states.
no_temporaries() {
  local left
  left=$(find "$1" -name '*.tmp*')
  [[ -z $left ]] && return 0
  for file in $left; do
    pid=${file##*.tmp.}
    echo "     left: $file ($(stat -c '%s bytes, changed %z' "$file"); pid $pid $(kill -0 "$pid" 2> /dev/null && ps -o pid=,lstart=,args= -p "$pid" || echo gone))"
  done
  return 1
}
random_delay() { awk -v r=$RANDOM -v max="$1" 'BEGIN { printf "%.3f", max * r / 32767 }'; }
# step_reached LOG N [FROM_LINE]: waits (up to 60 s) until LOG, after its line FROM_LINE, logs
# training step N or a later one.
step_reached() {
  for _ in $(seq 1 600); do
    tail -n +"$(( ${3:-0} + 1 ))" "$1" 2>/dev/null | awk -v n="$2" '
      { for (i = 1; i < NF; i++) if ($i == "step" && $(i + 1) ~ /^[0-9]+\//) { split($(i + 1), a, "/"); if (a[1] + 0 >= n) found = 1 } }
      END { exit !found }' && return 0
    sleep 0.05
  done
  return 1
}

# A tiny attention translator with dropout (so the RNG state matters) on synth:dates: 16 batches
# an epoch, 120 steps (7.5 epochs, so runs end mid-epoch), validation every 40 steps, a checkpoint
# every 6 steps, a cosine schedule, Adam (optimizer state), two loader threads; ~2 s on 2 cores.
TINY=(--task translate --model seq2seq_attn --synth-size 512 --batch-size 32 --opt adam --lr 3e-3
      --set embedding=16 --set encoder_hidden=16 --set hidden=32 --set attention_hidden=16 --set dropout=0.3
      --steps 120 --eval-every 40 --save-every-steps 6 --deterministic --workers 2)

expect 0 "" train "${TINY[@]}" --out straight
check "checkpoints/ keeps the last 2 step checkpoints" test "$(ls straight/checkpoints | tr '\n' ' ')" = "step-00000114.ckpt step-00000120.ckpt "
check "last.ckpt is the newest step checkpoint" test straight/last.ckpt -ef straight/checkpoints/step-00000120.ckpt
expect 0 "" train "${TINY[@]}" --out straight2
check "the same run twice gives the same weights, bit for bit" same_weights straight/last.ckpt straight2/last.ckpt

# --- SIGKILL at random moments, resume, until the run completes ---
# First a save killed halfway: the fault-injection point dies while writing the second checkpoint
# (step 12), leaving a half-written temporary file.
ZOO_FAULT=kill-during-save=2 "$ZOO" train "${TINY[@]}" --log-every 1 --out killed > killed.out 2> killed.err
check "a save killed halfway (exit 137)" test $? -eq 137
check "  ... left a half-written temporary file" find killed/checkpoints -name 'step-00000012.ckpt.tmp.*' -size +0 | grep -q .
check "  ... beside the intact step 6" test -f killed/checkpoints/step-00000006.ckpt
RANDOM=${ZOO_TEST_SEED:-20261122}
# Each attempt is killed a random 0-50 ms after it logs a random target step, 6-18 steps past the
# previous target (so a checkpoint lies between and every attempt makes progress); the attempt
# whose target would pass step 117 runs to the end. Targets in steps, not seconds, keep the number
# of kills the same on fast and slow machines.
kills=1 finished=0 target=12
for attempt in $(seq 1 40); do
  from=$(wc -l < killed/train.log)
  target=$((target + 6 + RANDOM % 13))
  "$ZOO" train --resume --out killed >> killed.out 2>> killed.err &
  pid=$!
  if (( target <= 117 )); then
    step_reached killed/train.log "$target" "$from"
    sleep "$(random_delay 0.05)"
    kill -9 $pid 2> /dev/null && kills=$((kills + 1))
  fi
  wait $pid
  [[ $? -eq 0 ]] && { finished=1; break; }
done
resumed_at=$(grep -o '^resumed .* at step [0-9]*' killed/train.log | awk '{print $NF}' | tr '\n' ' ')
echo "     $kills kills; resumed at steps $resumed_at"
check "the killed run finished" test "$finished" -eq 1
check "it was killed at least 4 times and resumed from at least 3 different steps" \
  test "$kills" -ge 4 -a "$(echo $resumed_at | tr ' ' '\n' | sort -u | wc -l)" -ge 3
check "no temporary file is left" no_temporaries killed
check "the killed-and-resumed run ends with the uninterrupted run's weights, bit for bit" same_weights straight/last.ckpt killed/last.ckpt
check "  ... and the same best.ckpt" same_weights straight/best.ckpt killed/best.ckpt
check "  ... and the same metrics.jsonl (no evaluation twice)" diff <(metrics straight/metrics.jsonl) <(metrics killed/metrics.jsonl)

# The same for image classification: BatchNorm statistics, SGD momentum, random crops and flips.
CLS=(--task classify --model resnet18_cifar --synth-size 48 --batch-size 8 --steps 8 --eval-every 4
     --save-every-steps 2 --deterministic --workers 2 --opt sgd --lr 0.05)
expect 0 "" train "${CLS[@]}" --out cls_straight
"$ZOO" train "${CLS[@]}" --out cls_killed > /dev/null 2>&1 &
pid=$!
step_reached cls_killed/train.log 3
kill -9 $pid 2> /dev/null
wait $pid
expect 0 "" train --resume --out cls_killed
check "a classifier killed at step $(grep -o '^resumed .* at step [0-9]*' cls_killed/train.log | awk '{print $NF}') and resumed" grep -q "^resumed" cls_killed/train.log
check "  ... ends with the uninterrupted run's weights and BatchNorm statistics, bit for bit" same_weights cls_straight/last.ckpt cls_killed/last.ckpt

# And for a recurrent language model under truncated BPTT: the hidden state carried between
# chunks travels in the checkpoint. Killed while saving step 9, resumed from step 6 mid-epoch.
# On CUDA the fused layers' between-layer dropout is cuDNN's, whose random state no checkpoint
# holds: --deterministic refuses it there, so a GPU machine runs the same model as cells.
LM=(--task lm --model char_rnn --synth-size 256 --batch-size 4 --steps 24 --eval-every 12 --save-every-steps 3
    --deterministic --workers 2 --opt adam --lr 3e-3 --set hidden=16 --set embedding=8 --set bptt=16 --set dropout=0.2)
if nvidia-smi > /dev/null 2>&1; then
  expect 2 "deterministic on CUDA: char_rnn's fused layers leave their between-layer dropout to cuDNN" train "${LM[@]}" --out lm_refused
  LM+=(--set impl=cells)
fi
expect 0 "" train "${LM[@]}" --out lm_straight
ZOO_FAULT=kill-during-save=3 "$ZOO" train "${LM[@]}" --out lm_killed > /dev/null 2>&1
check "a language model killed while saving step 9 (exit 137)" test $? -eq 137
expect 0 "" train --resume --out lm_killed
check "  ... resumes mid-epoch from step 6" grep -q "resumed lm_killed/checkpoints/step-00000006.ckpt at step 6 (epoch 1)" lm_killed/train.log
check "  ... and ends with the uninterrupted run's weights, bit for bit" same_weights lm_straight/last.ckpt lm_killed/last.ckpt

# --- killed before it wrote anything: the same command with --resume, however early it died ---
# A job restarted after every preemption (a scheduler, torchrun --max-restarts) re-runs its own
# command with --resume, whether or not the attempt before got as far as its run folder. The
# translator, the classifier and the language model above are each started that way
# twice: in NAME_early with two kills at fixed points (ZOO_FAULT=kill-while-starting: the 1st
# with the run folder just made, the 2nd with the data read and train.log begun but no
# config.json yet), so its three attempts meet a missing folder, an empty one and one without
# config.json; in NAME_early_random with SIGKILLs at random moments 0.05-0.5 s after the start
# (LibTorch loading, the folder being made, the data read), until an attempt finishes. Both end
# bit for bit at the straight run's weights.
kill_state() {
  # The lock `zoo train` holds on the folder (.lock) is not the run's.
  if [[ ! -e $1 ]]; then echo none; elif [[ -z $(ls -A "$1" | grep -vx .lock) ]]; then echo empty; elif [[ ! -e $1/config.json ]]; then echo no-config; else echo config; fi
}
# early_kills NAME STRAIGHT_FOLDER TRAIN_ARGS...
early_kills() {
  local name=$1 straight=$2; shift 2
  local rc
  local point want
  for point in 1 2; do
    want=$( ((point == 1)) && echo empty || echo no-config)
    ZOO_FAULT=kill-while-starting=$point "$ZOO" train "$@" --out "${name}_early" --resume >> "$name.early.out" 2>> "$name.early.err"
    rc=$?
    check "$name: killed at starting point $point (exit $rc), leaving its folder $(kill_state "${name}_early") (want $want)" \
      test $rc -eq 137 -a "$(kill_state "${name}_early")" = $want
  done
  "$ZOO" train "$@" --out "${name}_early" --resume >> "$name.early.out" 2>> "$name.early.err"
  check "  ... the third attempt finishes (exit $?)" test -f "${name}_early/last.ckpt"
  check "  ... saying it starts at step 0 from the options given" \
    grep -q "^--resume: ${name}_early holds no config.json (the interrupted run stopped before writing it); starting at step 0 with the options given$" "${name}_early/train.log"
  check "  ... and ends with the uninterrupted run's weights, bit for bit" same_weights "$straight/last.ckpt" "${name}_early/last.ckpt"
  local states="" finished=0 pid
  for attempt in $(seq 1 12); do
    "$ZOO" train "$@" --out "${name}_early_random" --resume >> "$name.random.out" 2>> "$name.random.err" &
    pid=$!
    if ((attempt <= 4)); then
      sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", 0.05 + 0.45 * r / 32767 }')"
      kill -9 $pid 2> /dev/null
    fi
    wait $pid
    rc=$?
    [[ $rc -eq 0 ]] && { finished=1; break; }
    states+="$(kill_state "${name}_early_random") "
  done
  check "$name: SIGKILLed early $((attempt - 1)) times (left: ${states% }), then finished" test "$finished" -eq 1
  check "  ... with the uninterrupted run's weights, bit for bit" same_weights "$straight/last.ckpt" "${name}_early_random/last.ckpt"
}
early_kills translate straight "${TINY[@]}"
early_kills classify cls_straight "${CLS[@]}"
early_kills lm lm_straight "${LM[@]}"
# The run in --out stays that run: another task or model given with --resume is refused.
expect 2 "--resume: translate_early/config.json holds a run of --model seq2seq_attn, not seq2seq" \
  train "${TINY[@]}" --model seq2seq --out translate_early --resume
expect 2 "--resume: translate_early/config.json holds a run of --task translate, not classify" \
  train "${CLS[@]}" --out translate_early --resume
mkdir -p never_started
expect 2 "--resume: never_started/config.json does not exist \(the run never started\?\); give the run's own options" train --resume --out never_started

# Time-based saves: every 0.03 s here (--save-every-minutes 0.0005), with evaluations and step
# saves off, a 40-step run (0.2 s on a fast machine) leaves several step checkpoints.
expect 0 "" train "${TINY[@]}" --steps 40 --eval-every 1000 --save-every-steps 0 --save-every-minutes 0.0005 --keep-last 100 --out timed
check "--save-every-minutes saves between evaluations ($(ls timed/checkpoints | wc -l) step checkpoints)" test "$(ls timed/checkpoints | wc -l)" -ge 3

# --- damaged checkpoints are named, and --resume falls back to the newest intact one ---
cp -a straight damaged   # -a keeps last.ckpt a hard link of checkpoints/step-00000120.ckpt
flip_byte() { $PY -c 'import os,sys
f = open(sys.argv[1], "r+b"); f.seek(os.path.getsize(sys.argv[1]) // 2); b = f.read(1); f.seek(-1, 1); f.write(bytes([b[0] ^ 0xFF]))' "$1"; }
flip_byte damaged/last.ckpt
expect 1 "damaged/last.ckpt: its CRC-32 is [0-9a-f]{8}, its seal says [0-9a-f]{8} \(the file is damaged\)" eval --checkpoint damaged/last.ckpt
expect 0 "" train --resume --out damaged
check "--resume names the damaged checkpoint it skips" grep -q "skipping damaged/checkpoints/step-00000120.ckpt: .*CRC-32" damaged/train.log
check "  ... resumes from the one before" grep -q "resumed damaged/checkpoints/step-00000114.ckpt at step 114" damaged/train.log
check "  ... keeps the damaged one aside" test -f damaged/checkpoints/step-00000120.ckpt.corrupt
check "  ... and still ends bit for bit where the uninterrupted run ends" same_weights straight/last.ckpt damaged/last.ckpt
head -c 3000 straight/last.ckpt > truncated.ckpt
expect 1 "truncated.ckpt" eval --checkpoint truncated.ckpt
$PY - <<'PY'
data = bytearray(open("straight/best.ckpt", "rb").read())
at = data.rfind(b"zoo-checkpoint 2 ")
data[at:at + 17] = b"zoo-checkpoint 9 "
open("newer.ckpt", "wb").write(data)
PY
expect 1 "newer.ckpt: it was written by a newer zoo \(checkpoint format 9; this build reads formats up to 2\)" eval --checkpoint newer.ckpt
expect 1 "best.ckpt: unexpected tensor '.*' \(the model has no such parameter or buffer\)" \
  train --task classify --model resnet18_cifar --synth-size 64 --steps 1 --init straight/best.ckpt --out other_model
expect_last 1 "best.ckpt: tensor '.*' has shape \[.*\], the model expects \[.*\]" \
  train "${TINY[@]}" --set hidden=48 --steps 1 --init straight/best.ckpt --out other_shape
mkdir -p empty_run && cp straight/config.json empty_run/
expect 0 "" train --resume --out empty_run --steps 2 --eval-every 2
check "--resume of a run killed before its first save starts at step 0" grep -q "nothing saved in empty_run yet; starting at step 0" empty_run/train.log

# --- SIGTERM and SIGINT finish the step, save, and exit 143 / 130 ---
"$ZOO" train "${TINY[@]}" --steps 100000 --save-every-steps 0 --out term 2> term.err &
pid=$!
step_reached term/train.log 3
kill -TERM $pid
wait $pid
check "SIGTERM exits 143" test $? -eq 143
stopped=$(grep -o "terminated at step [0-9]*" term/train.log | awk '{print $NF}')
check "SIGTERM saved the step it finished (step $stopped)" grep -q "\"step\":$stopped," <("$WEIGHTS" term/last.ckpt)
expect 0 "" train --resume --out term --steps $((stopped + 2)) --eval-every 1000
check "the terminated run resumes" grep -q "resumed term/checkpoints/step-$(printf %08d "$stopped").ckpt at step $stopped" term/train.log

"$ZOO" train "${TINY[@]}" --steps 100000 --save-every-steps 1 --out int2 2> int2.err &
pid=$!
step_reached int2/train.log 3
kill -INT $pid; kill -INT $pid
wait $pid
check "a second SIGINT exits at once with 130" test $? -eq 130
check "  ... leaving an intact last.ckpt" "$WEIGHTS" int2/last.ckpt > /dev/null
expect 0 "" train --resume --out int2 --steps 30 --eval-every 1000
check "  ... which --resume continues" grep -q "^resumed" int2/train.log
check "  ... and no temporary file" no_temporaries int2

# --- a non-finite loss stops the run naming the step and its samples, or is skipped ---
ZOO_FAULT=nan-loss=5 expect_last 1 "the loss is nan at step 5 \(epoch 1, batch 5\), on synth:dates#[0-9]+, synth:dates#[0-9]+, .* and 28 more; training stopped" \
  train "${TINY[@]}" --out nan_stop
ZOO_FAULT=nan-loss=5,nan-loss=9 expect 0 "" train "${TINY[@]}" --on-nan skip --out nan_skip
check "--on-nan skip counts what it skipped" grep -q -- "--on-nan skip: 2 of 120 steps skipped" nan_skip/train.log
expect_last 1 "the (loss|gradient norm) is (nan|inf|-nan) at step [0-9]+ .*training stopped" \
  train --task classify --model resnet18_cifar --synth-size 64 --batch-size 16 --steps 20 --opt sgd --lr 1e30 --out diverged
expect 2 "invalid --on-nan 'maybe'" train "${TINY[@]}" --on-nan maybe --out x

# --- a full disk during a save: a clear error, the last good checkpoint intact ---
cp -a straight full
"$WEIGHTS" full/last.ckpt > full_before.weights
size_kb=$(( $(stat -c %s full/last.ckpt) / 1024 ))
cat > limited.sh <<SH
#!/usr/bin/env bash
ulimit -f $((size_kb / 2))
exec "$ZOO" "\$@"
SH
chmod +x limited.sh
ZOO=./limited.sh expect_last 1 "cannot write full/.*\.ckpt: File too large" train --resume --out full --steps 126
check "  ... the last good checkpoint is intact" diff full_before.weights <("$WEIGHTS" full/last.ckpt)
check "  ... and no temporary file is left" no_temporaries full

# --- image folders: corrupt, truncated, empty and non-image files; empty classes and sets ---
expect 0 "" data synth --kind shapes --out imgs --n 48 --image-size 32 --seed 5
$PY - <<'PY'
import glob, io
from PIL import Image
png = sorted(glob.glob("imgs/train/square/*.png"))[0]
jpeg = io.BytesIO(); Image.open(png).convert("RGB").save(jpeg, "JPEG", quality=90)
open("imgs/train/circle/zero.png", "wb").close()                                  # zero bytes
open("imgs/train/square/cut.png", "wb").write(open(png, "rb").read()[:300])       # truncated PNG
open("imgs/train/star/cut.jpg", "wb").write(jpeg.getvalue()[:len(jpeg.getvalue()) * 2 // 3])  # truncated JPEG
open("imgs/train/cross/text.jpg", "w").write("not an image\n")                    # not an image
open("imgs/train/cross/README.txt", "w").write("ignored, as torchvision ignores it\n")
PY
SHAPES=(--task classify --model resnet18_cifar --data imgs --epochs 1 --batch-size 8 --workers 2)
expect_last 1 "cannot decode image .*imgs/train/(circle/zero.png|square/cut.png|star/cut.jpg|cross/text.jpg)" train "${SHAPES[@]}" --out bad_fail
expect 0 "" train "${SHAPES[@]}" --bad-samples skip --out bad_skip
check "--bad-samples skip lists the empty file" grep -q "left out .*imgs/train/circle/zero.png (.*the file is empty (0 bytes))" bad_skip/train.log
check "  ... the truncated PNG" grep -q "left out .*imgs/train/square/cut.png (.*a truncated PNG file" bad_skip/train.log
check "  ... the truncated JPEG" grep -q "left out .*imgs/train/star/cut.jpg (.*a truncated JPEG file" bad_skip/train.log
check "  ... the text file named .jpg" grep -q "left out .*imgs/train/cross/text.jpg (.*not an image OpenCV can read" bad_skip/train.log
check "  ... each once" test "$(grep -c 'left out' bad_skip/train.log)" -eq 4
check "  ... and ignores files that are not images by name" bash -c "! grep -q README bad_skip/train.log"
cp imgs/train/circle/zero.png imgs/val/circle/zero.png
expect 1 "cannot decode image .*imgs/val/circle/zero.png: the file is empty" eval --checkpoint bad_skip/best.ckpt
expect 0 "" eval --checkpoint bad_skip/best.ckpt --bad-samples skip --json
check "eval --bad-samples skip leaves the image out of the metrics" test "$(json x 'd["examples"]' out.txt)" -eq 64
check "  ... and names it on stderr" grep -q "left out .*imgs/val/circle/zero.png" err.txt
expect 2 "invalid --bad-samples 'ignore'" train "${SHAPES[@]}" --bad-samples ignore --out x
mkdir -p imgs/train/empty_class
expect 1 "class folder .*imgs/train/empty_class holds no image" train "${SHAPES[@]}" --out x
mkdir -p no_classes
expect 1 "no class folders in .*no_classes" train "${SHAPES[@]}" --data no_classes --out x

# --- parallel text: uneven files, bad UTF-8, empty lines, a 10 MB line ---
printf 'ein Haus\nzwei Katzen\ndrei\n' > uneven.de; printf 'a house\ntwo cats\n' > uneven.en
TEXT=(--task translate --model seq2seq --src de --tgt en --steps 2 --batch-size 2 --val-fraction 0.34 --workers 0)
expect 1 "uneven.de has 3 lines, .*uneven.en has 2" train "${TEXT[@]}" --data uneven --out x
printf 'gut\n\xff\xfe kaputt\n' > utf.de; printf 'good\nbroken\n' > utf.en
expect 1 "utf.de:2: invalid UTF-8" train "${TEXT[@]}" --data utf --out x
printf 'ein Haus\n\nzwei Katzen\ndrei Hunde\n' > gaps.de; printf 'a house\nnothing\n\nthree dogs\n' > gaps.en
expect_last 0 "" train "${TEXT[@]}" --data gaps --out gaps_run
check "pairs with an empty side are skipped and counted" grep -q "2 with an empty side skipped" err.txt
$PY -c 'open("long.de", "w").write("ein Haus\n" + "wort " * 2_000_000 + "\nzwei Katzen\ndrei Hunde\n"); open("long.en", "w").write("a house\nword\ntwo cats\nthree dogs\n")'
expect_last 0 "" train "${TEXT[@]}" --data long --set tokenizer=word --out long_run
check "a 10 MB line is dropped by --max-len and counted" grep -q "1 longer than --max-len" err.txt
: > empty.de; : > empty.en
expect 1 "empty" train "${TEXT[@]}" --data empty --out x

# --- options ---
expect 2 "invalid --batch-size 0" train "${TINY[@]}" --batch-size 0 --out x
expect 2 "invalid --lr -1" train "${TINY[@]}" --lr -1 --out x
expect 2 "invalid --lr nan" train "${TINY[@]}" --lr nan --out x
expect 2 "invalid --keep-last 0" train "${TINY[@]}" --keep-last 0 --out x
expect 2 "invalid --save-every-steps" train "${TINY[@]}" --save-every-steps -3 --out x
expect 2 "unknown option 'hiden'.*valid keys" train "${TINY[@]}" --set hiden=3 --out x
expect 1 "cannot create run folder /proc/zoo-cannot-write" train "${TINY[@]}" --out /proc/zoo-cannot-write
touch a_file
expect 1 "cannot create run folder a_file/run" train "${TINY[@]}" --out a_file/run
if ! nvidia-smi > /dev/null 2>&1; then
  expect 2 "CUDA is not available" train "${TINY[@]}" --device cuda --out x
fi

finish reliability
