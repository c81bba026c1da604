#!/usr/bin/env bash
# End-to-end tests of the zoo command line (CLI.md): train, eval, predict, export, import,
# data synth, bench, --config, --resume, --init, Ctrl-C, and the usage errors and exit codes.
# Environment (set by ctest): ZOO (the binary), ZOO_WORK (scratch folder), ZOO_SHARED_DATA.
set -u
DOCS=$(cd "$(dirname "$0")/../../docs" && pwd)
W=${ZOO_WORK:-/tmp/zoo-work}/cli
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TINY=(--task classify --model resnet18_cifar --synth-size 128 --batch-size 32 --workers 2)

# --- models ---
expect 0 "" models
check "models lists all 19 CNNs" test "$(grep -cE '^(alexnet|vgg|googlenet|resnet)' out.txt)" -eq 19
expect 0 "" models --json
check "models --json has parameter counts" test "$(json x 'sum(1 for m in d if m["name"]=="resnet18" and m["params"]==11689512)' out.txt)" = 1

check "docs/MODELS.md lists every model with its parameter count" $PY - "$DOCS/MODELS.md" out.txt <<'PY'
import json, sys
doc = open(sys.argv[1]).read()
for m in json.load(open(sys.argv[2])):
    assert f"| `{m['name']}` | {m['task']} | {m['params']:,} |" in doc, m["name"]
PY
check "models --json gives each option's type, range or choices, default and help" $PY - out.txt <<'PY'
import json, sys
m = {m["name"]: m for m in json.load(open(sys.argv[1]))}["seq2seq_attn"]
o = {o["name"]: o for o in m["options"]}
assert o["cell"]["choices"] == ["gru", "lstm", "rnn"] and o["cell"]["default"] == "gru" and o["cell"]["type"] == "string", o["cell"]
assert o["dropout"]["min"] == 0 and o["dropout"]["below"] == 1 and o["dropout"]["default"] == 0.3 and o["dropout"]["help"], o["dropout"]
assert set(o) == set(m["defaults"]), "options and defaults disagree"
PY
expect 0 "" models --markdown
check "docs/MODELS.md's option tables are the declarations' (else run scripts/update_models_md.sh)" $PY - "$DOCS/MODELS.md" out.txt <<'PY'
import sys
assert open(sys.argv[2]).read().strip() in open(sys.argv[1]).read()
PY
expect 0 "" models --model gpt_mini
check "models --model lists one model's options with their values and help" grep -qE "^ +context +integer, 1 or more +64 +longest sequence" out.txt
expect 2 "unknown model 'gpt_maxi'" models --model gpt_maxi

# --- train on the built-in synthetic data ---
expect 0 "" train "${TINY[@]}" --epochs 2 --out run1 --json
cp out.txt train1.json
for f in config.json last.ckpt best.ckpt metrics.jsonl train.log; do check "run folder has $f" test -s run1/$f; done
check "metrics.jsonl has one line per epoch" test "$(wc -l < run1/metrics.jsonl)" -eq 2
check "config.json records every option" test "$(json x 'd["lr"], d["weight_decay"], d["batch_size"], d["data"],' run1/config.json)" = "(0.1, 0.0005, 32, 'synth:shapes')"

# --- each model trains with its family's recipe unless flags say otherwise ---
# (One step of a one-layer gpt_mini each: what config.json records is what the run used.)
GPT1=(train --task lm --model gpt_mini --steps 1 --batch-size 4 --set layers=1 --set width=32 --set heads=2 --set context=16 --workers 0)
recipe() { json x 'd["opt"], d["lr"], d["weight_decay"], d["warmup_fraction"], d["clip_grad"], d["sched"]' "$1/config.json"; }
expect 0 "" "${GPT1[@]}" --out recipe_default
check "gpt_mini without optimizer flags trains with nanoGPT's recipe" test "$(recipe recipe_default)" = "('adamw', 0.001, 0.1, 0.05, 1.0, 'cosine')"
expect 0 "" "${GPT1[@]}" --lr 3e-4 --clip-grad 0 --out recipe_lr
check "  ... a flag overrides its part of it" test "$(recipe recipe_lr)" = "('adamw', 0.0003, 0.1, 0.05, 0.0, 'cosine')"
expect 0 "" "${GPT1[@]}" --opt sgd --out recipe_sgd
check "  ... another --opt drops the recipe's optimizer settings, keeps its schedule" test "$(recipe recipe_sgd)" = "('sgd', 0.1, 0.0005, 0.05, 1.0, 'cosine')"
expect 0 "" models --model gpt_mini
check "  ... and zoo models shows it" grep -q "^training recipe (any flag overrides its part): --opt adamw --lr 0.001 --weight-decay 0.1 --sched cosine --warmup-fraction 0.05 --min-lr 0.0001 --clip-grad 1.0$" out.txt

# --- eval reproduces the best validation numbers ---
expect 0 "" eval --checkpoint run1/best.ckpt --json
cp out.txt eval1.json
check "eval --json has the contract's keys" test "$(json x 'sorted(d.keys())' eval1.json)" = "['examples', 'metrics', 'model', 'split', 'task']"
best_top1=$(json x 'd["best_metrics"]["top1"]' train1.json)
check "eval top1 equals training's best val top1" test "$(json x 'd["metrics"]["top1"]' eval1.json)" = "$best_top1"
expect 0 "" eval --checkpoint run1/best.ckpt --split test --batch-size 7 --workers 0

# --- data synth, predict, export, predict through TorchScript ---
expect 0 "" data synth --kind shapes --out shapes --n 60 --image-size 32 --seed 3
check "data synth writes train/ and val/ class folders" test "$(ls shapes/train | wc -l)" -eq 6 -a "$(ls shapes/val | wc -l)" -eq 6
img1=$(ls shapes/val/star/*.png | head -1); img2=$(ls shapes/val/circle/*.png | head -1)
expect 0 "" predict --checkpoint run1/best.ckpt --input "$img1" "$img2" --topk 3 --json
cp out.txt pred_ckpt.json
check "predict gives top-3 per input, sorted" test "$(json x 'all(len(p["top"])==3 and p["top"][0]["prob"]>=p["top"][1]["prob"] for p in d["predictions"]) and len(d["predictions"])==2' pred_ckpt.json)" = True
expect 0 "" export --checkpoint run1/best.ckpt --out model.pt
# export and import work on the CPU: --device cpu is fine, another device is refused (exit 2),
# not silently ignored.
expect 0 "" export --checkpoint run1/best.ckpt --out model_cpu.pt --device cpu
expect 2 "CUDA is not available|--device cuda: export traces the model on the CPU" export --checkpoint run1/best.ckpt --out x.pt --device cuda
check "  ... and writes nothing" test ! -e x.pt
expect 0 "" predict --torchscript model.pt --input "$img1" "$img2" --topk 3 --json
cp out.txt pred_ts.json
check "TorchScript predictions equal the checkpoint's" $PY - <<'PY'
import json
a, b = json.load(open("pred_ckpt.json")), json.load(open("pred_ts.json"))
for p, q in zip(a["predictions"], b["predictions"]):
    assert [t["class"] for t in p["top"]] == [t["class"] for t in q["top"]]
    assert all(abs(t["prob"] - u["prob"]) < 1e-5 for t, u in zip(p["top"], q["top"]))
PY
expect 0 "" predict --checkpoint run1/best.ckpt --input "$img1"
check "plain predict prints class names" grep -qE '(circle|cross|hexagon|square|star|triangle) +[0-9.]+%' out.txt

# --- train on an image folder written by data synth ---
expect 0 "" train --task classify --model resnet18_cifar --data shapes --epochs 1 --batch-size 16 --out run_folder
check "folder run trained on 60 images" grep -q "60 examples" run_folder/train.log
expect 0 "" eval --checkpoint run_folder/last.ckpt --data shapes --split val --json
check "eval on the folder's val split" test "$(json x 'd["examples"]' out.txt)" -eq 64

# --- --config file, with flags winning ---
cat > cfg.json <<'JSON'
{"epochs": 1, "batch-size": 16, "synth_size": 64, "set": {"zero_init_residual": true}, "opt": "adamw"}
JSON
expect 0 "" train --config cfg.json --task classify --model resnet18_cifar --batch-size 32 --out run_cfg
check "config file values apply, flags win" test "$(json x 'd["epochs"], d["batch_size"], d["set"], d["opt"], d["lr"], d["weight_decay"],' run_cfg/config.json)" = "(1, 32, ['zero_init_residual=true'], 'adamw', 0.001, 0.05)"
expect 0 "" train --config run_cfg/config.json --out run_cfg2 --steps 1
check "a run's config.json replays" test "$(json x 'd["opt"], d["synth_size"],' run_cfg2/config.json)" = "('adamw', 64)"

# --- --resume continues exactly where a run stopped ---
# (a constant schedule: a cosine one's shape depends on --steps, which the two runs differ in; on
# the CPU, because cuDNN's convolution gradients are not bitwise reproducible from run to run)
expect 0 "" train "${TINY[@]}" --device cpu --sched none --steps 6 --eval-every 3 --out straight
expect 0 "" train "${TINY[@]}" --device cpu --sched none --steps 3 --eval-every 3 --out resumed
expect 0 "" train --resume --out resumed --steps 6
check "resume logged" grep -q "resumed" resumed/train.log
check "resumed run ends at step 6" test "$(tail -1 resumed/metrics.jsonl | $PY -c 'import json,sys; print(json.load(sys.stdin)["step"])')" -eq 6
check "resumed run matches an uninterrupted one" $PY - <<'PY'
import json
a = json.loads(open("straight/metrics.jsonl").read().splitlines()[-1])
b = json.loads(open("resumed/metrics.jsonl").read().splitlines()[-1])
assert abs(a["val_loss"] - b["val_loss"]) < 1e-4, (a, b)
assert abs(a["train_loss"] - b["train_loss"]) < 1e-4, (a, b)
PY

# --- Ctrl-C writes last.ckpt, exits 130, and --resume continues ---
"$ZOO" train "${TINY[@]}" --steps 400 --eval-every 1000 --out interrupted 2> sigint.err &
pid=$!
for _ in $(seq 1 600); do grep -q "step 2/" interrupted/train.log 2>/dev/null && break; sleep 0.1; done
kill -INT $pid
wait $pid
check "Ctrl-C exits 130" test $? -eq 130
check "Ctrl-C saved last.ckpt" test -s interrupted/last.ckpt
expect 0 "" train --resume --out interrupted --steps 6 --eval-every 3
check "interrupted run resumes" grep -q "resumed" interrupted/train.log

# --- --init from another checkpoint; a differently sized head is re-initialised ---
expect 0 "" train --task classify --model resnet18_cifar --data shapes --init run1/best.ckpt --steps 1 --batch-size 16 --out run_init
check "init logged" grep -q "initialised from" run_init/train.log
$PY - <<'PY'
import torch, torchvision
m = torchvision.models.resnet18(num_classes=1000)
torch.save(m.state_dict(), "tv_resnet18.pt")
PY
expect 0 "" import --from torchvision --model resnet18 --state-dict tv_resnet18.pt --out tv.ckpt
expect 2 "CUDA is not available|--device cuda: import converts the weights on the CPU" \
  import --from torchvision --model resnet18 --state-dict tv_resnet18.pt --out tv_cuda.ckpt --device cuda
expect 0 "" train --task classify --model resnet18 --set input_size=32 --synth-size 64 --batch-size 16 --steps 1 --init tv.ckpt --out run_tv
check "a 1000-class head is replaced for 6 classes" grep -q "kept new fc.weight" run_tv/train.log

# --- bench ---
expect 0 "" bench --config resnet18_64 --warmup 0 --steps 1 --json
check "bench --json line has the contract's keys" test "$(json x 'all(k in d for k in ("config","unit","per_s","step_ms","peak_rss_mb"))' out.txt)" = True
if [[ -d ${ZOO_SHARED_DATA:-/nonexistent}/tiny_coco ]]; then
  expect 0 "" bench --config loader_folder --warmup 0 --steps 1 --json
  check "loader_folder reports images/s" test "$(json x 'd["unit"]' out.txt)" = images
fi
# The inference configurations run the same models as their twins (benchmarks/pytorch_gpt_sample.py,
# pytorch_classify_r50_ts.py): a 255-token sample of nanoGPT's shakespeare_char model, and
# ResNet-50 through its TorchScript export, saved and loaded back.
mkdir -p bench_tmp
TMPDIR=$PWD/bench_tmp expect 0 "" bench --config sample_gpt,classify_r50_ts --warmup 0 --steps 1 --json
check "bench: sample_gpt samples 255 tokens with 10,770,816 parameters, classify_r50_ts runs 25,557,032, as their twins" \
  test "$($PY -c "import json; r = [json.loads(l) for l in open('out.txt')]; print(r[0]['params'], r[0]['new_tokens'], r[1]['params'], r[1]['unit'])")" = "10770816 255 25557032 images"
check "  ... and leaves no exported file behind" test -z "$(ls -A bench_tmp)"
ROOT=$(cd "$CLI_DIR/../.." && pwd)
# --profile: a Chrome trace of 3 more steps that benchmarks/profile_table.py reads, beside the timing.
expect 0 "" bench --config gpt_char --warmup 0 --steps 1 --profile prof --json
check "bench --profile names its trace and the 3 steps in it" test "$(json x 'd["profile"].endswith("gpt_char.zoo.trace.json") and d["profiled_steps"] == 3' out.txt)" = True
check "  ... whose matrix products profile_table.py finds (aten::mm self time > 0)" \
  awk -F'|' '$2 ~ /aten::mm / && $3 + 0 > 0 { found = 1 } END { exit !found }' <($PY "$ROOT/benchmarks/profile_table.py" prof/gpt_char.zoo.trace.json 3 prof/gpt_char.zoo.trace.json 3)
# The twins' FLOP count (benchmarks/twin.py) and profile_table's self times, against hand-worked values.
check "twin.py counts a step's product FLOPs as worked by hand; profile_table.py's self times" $PY - "$ROOT/benchmarks" <<'PY'
import json, subprocess, sys
sys.path.insert(0, sys.argv[1])
import torch, twin
twin._options.profile = "twin_flops"
model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.Linear(512, 10))
conv, frozen = torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(3, 8, 3)
x, images = torch.randn(64, 256), torch.randn(2, 3, 10, 10, requires_grad=True)
def step():
    with torch.no_grad():
        frozen_sum = frozen(images).sum()
    (model(x).sum() + conv(images).sum() + frozen_sum).backward()
twin.seconds_per_step(step, 0, 1)
# Linear 1: forward and weight gradient (its input needs none); linear 2: forward, input and
# weight gradients; the convolution three times its forward (2 x 8 x 8 x 8 outputs x 27 MACs),
# its input and weight gradients; the frozen one (no graph) its forward only.
convolution = 2 * 2 * 8 * 8 * 8 * 27
want = 2 * (2 * 64 * 256 * 512) + 3 * (2 * 64 * 512 * 10) + 3 * convolution + convolution
got = json.load(open("twin_flops.flops.json"))["gflop_per_step"] * 1e9
assert abs(got - want) < 1, (got, want)
# Under bf16 autocast the same work: the convolution autocast intercepts and re-issues counts once.
twin._options.precision = "bf16"
twin.seconds_per_step(step, 0, 1)
got = json.load(open("twin_flops.flops.json"))["gflop_per_step"] * 1e9
assert abs(got - want) < 1, ("bf16", got, want)
# The overlap rule on hand-made events: a convolution re-issued inside itself (ending a microsecond
# after its outer call) counts once, an mm on another thread at the same time counts; a
# convolution's backward counts twice the forward of its input and weight shapes.
from types import SimpleNamespace as E
span = lambda s, t: E(start=s, end=t)
a, w, b = [2, 3, 10, 10], [8, 3, 3, 3], [2, 3, 20, 20]
conv2d = lambda flops, shape, s, t: E(name="aten::conv2d", flops=flops, thread=1, time_range=span(s, t), input_shapes=[shape, w, [8]])
backward = lambda shape, s, t: E(name="aten::convolution_backward", flops=0, thread=1, time_range=span(s, t), input_shapes=[[2, 8, 8, 8], shape, w])
events = [conv2d(10, a, 0, 100), conv2d(10, a, 2, 101),
          E(name="aten::mm", flops=5, thread=1, time_range=span(200, 300)), E(name="aten::mm", flops=5, thread=2, time_range=span(250, 260)),
          conv2d(40, b, 400, 500), backward(b, 600, 700), backward(a, 800, 900), backward(a, 801, 901)]
assert twin.product_flops(events) == 10 + 5 + 5 + 40 + 2 * 40 + 2 * 10, twin.product_flops(events)
# A parent [0, 100) ms with children [10, 40) and [50, 60): its self time 60 ms, theirs 30 and 10
# (the trace counts microseconds).
trace = [{"name": n, "ph": "X", "ts": t, "dur": d, "tid": 1, "pid": 0} for n, t, d in (("p", 0, 100e3), ("a", 10e3, 30e3), ("b", 50e3, 10e3))]
json.dump(trace, open("hand.trace.json", "w"))
table = subprocess.run([sys.executable, sys.argv[1] + "/profile_table.py", "hand.trace.json", "1", "hand.trace.json", "1"],
                       capture_output=True, text=True, check=True).stdout
rows = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in table.splitlines()[2:] if "**" not in line}
assert rows["p"] == 60 and rows["a"] == 30 and rows["b"] == 10 and rows["outside any operator"] == 0, table
PY

# --- usage errors: exit 2, one line naming the culprit ---
expect 2 "unknown model 'nosuch'" train --task classify --model nosuch
expect 2 "bogus" train --bogus
expect 2 "valid keys: .*num_classes" train "${TINY[@]}" --set nope=1
expect 2 "epochs" train "${TINY[@]}" --epochs abc
expect 2 "is for task classify, not mlm" train --task mlm --model resnet18
expect 2 "is for task classify, not translate" train --task translate --model resnet18
expect 2 "unknown task" train --task painting --model resnet18
expect 2 "it has no attention" visualize --checkpoint run1/best.ckpt --input "$img1" --out att.png
expect 2 "split" eval --checkpoint run1/best.ckpt --split nope
expect 2 "kind" data synth --kind nope --out x
expect 2 "nope" bench --config nope
expect 2 "missing --model" train --task classify
# A bad --set (a rule across options, a range, a type) is refused before any data is read or run
# folder made, for every task: --data names nothing, yet the answer is the option's (exit 2), not
# the data's (exit 1).
expect 2 "invalid ViT input_size 32: it must be a multiple of the patch size 5" \
  train --task classify --model vit_tiny_patch4_32 --set patch_size=5 --data /nonexistent/images --out never_classify
expect 2 "attention luong_dot needs the decoder state \(100\) as wide as the encoder output \(512\)" \
  train --task translate --model seq2seq_attn --set attention=luong_dot --set hidden=100 --data /nonexistent/pairs --out never_translate
expect 2 "invalid dropout 1.5: expected a number in \[0, 1\)" train --task lm --model gpt_mini --set dropout=1.5 --data /nonexistent/text --out never_lm
expect 2 "invalid layers 'two': expected an integer" train --task lm --model char_rnn --set layers=two --data /nonexistent/text --out never_lm
check "  ... and no run folder was made" test ! -e never_classify -a ! -e never_translate -a ! -e never_lm
expect 2 "invalid --val-fraction 0: expected a number in \(0, 1\)" train --task lm --model gpt_mini --val-fraction 0 --data /nonexistent/text --out never_lm
expect 2 "unknown synthetic data set 'synth:dates' for task classify; expected synth:shapes" train --task classify --model resnet18_cifar --data synth:dates
expect 2 "exactly one" predict --input "$img1"
expect 2 "" frobnicate
echo '{"epochz": 3}' > typo.json
expect 2 "epochz" train --config typo.json --task classify --model resnet18_cifar
expect 2 "opt" train "${TINY[@]}" --opt lion
if ! $PY -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  expect 2 "CUDA is not available" eval --checkpoint run1/best.ckpt --device cuda
fi
expect 0 "" train --help
check "train --help lists the knobs" grep -q -- "--batch-size" out.txt

# --- other failures: exit 1, one line naming the file ---
expect 1 "missing.ckpt" eval --checkpoint missing.ckpt
head -c 2000 run1/best.ckpt > truncated.ckpt
expect 1 "truncated.ckpt" eval --checkpoint truncated.ckpt
expect 1 "/nonexistent/data" train "${TINY[@]}" --data /nonexistent/data
expect 1 "nothere.png" predict --checkpoint run1/best.ckpt --input nothere.png
echo "not a picture" > fake.jpg
expect 1 "fake.jpg" predict --checkpoint run1/best.ckpt --input fake.jpg
expect 1 "nope.json" train --config nope.json --task classify --model resnet18_cifar
echo '{"epochs": ' > broken.json
expect 1 "broken.json" train --config broken.json --task classify --model resnet18_cifar
expect 1 "cfg.json is not a zip-format torch.save file" import --from torchvision --model resnet18 --state-dict cfg.json --out x.ckpt

finish
