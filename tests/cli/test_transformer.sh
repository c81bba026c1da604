#!/usr/bin/env bash
# End-to-end Transformer translation: train a small transformer on synth:dates to a stated
# exact-match bar, then eval, predict, visualize (four PNGs), export, TorchScript in C++ and
# Python, parity with PyTorch's own nn.Transformer holding the same weights, the joint
# vocabulary of share_embeddings, the benchmark's model and the usage errors.
# Environment (set by ctest): ZOO (the binary), ZOO_WORK (scratch folder), ZOO_SHARED_DATA.
set -u
W=${ZOO_WORK:-/tmp/zoo-work}/transformer
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# transformer_small shrunk to 2+2 layers of width 64: the paper's recipe otherwise (post-norm,
# sinusoidal positions, label smoothing 0.1, the warm-up schedule).
SMALL=(--task translate --model transformer_small --synth-size 4096 --epochs "$(budget 16 1)" --batch-size 32 --workers 1
       --opt adam --lr 3e-3 --sched noam --warmup-steps 200 --label-smoothing 0.1
       --set encoder_layers=2 --set decoder_layers=2 --set width=64 --set heads=4 --set ffn=128 --set dropout=0.1)
BAR=85

# --- train ---
expect 0 "" train "${SMALL[@]}" --out tf --json
exact=$(json x 'd["best_metrics"]["exact"]' out.txt)
echo "     transformer exact match on synth:dates val: $exact%"
learned "the transformer reaches $BAR% exact match on synth:dates (got $exact)" ge "$exact" $BAR

# --- eval ---
expect 0 "" eval --checkpoint tf/best.ckpt --split test --beam 3 --json
check "eval --json has bleu, ppl, loss, exact" test "$(json x '",".join(sorted(d["metrics"]))' out.txt)" = "bleu,exact,loss,ppl"
learned "test BLEU above 90 at beam 3 (got $(json x 'd["metrics"]["bleu"]' out.txt))" ge "$(json x 'd["metrics"]["bleu"]' out.txt)" 90

# --- predict ---
expect 0 "" predict --checkpoint tf/best.ckpt --input "3 March 2021" "December 25, 1999"
learned "predict translates the two dates" test "$(cat out.txt | tr '\n' ' ')" = "2021-03-03 1999-12-25 "
printf '3 March 2021\n\n07.07.1987\nWednesday, March 3rd 2021\n' > dates.txt
expect 0 "" predict --checkpoint tf/best.ckpt --input-file dates.txt --beam 1
cp out.txt greedy.txt

# --- visualize: the alignment and a layers x heads grid per kind of attention ---
mkdir -p maps
expect 0 "" visualize --checkpoint tf/best.ckpt --input "Wednesday, March 3rd 2021" --out maps/tf.png
check "visualize names the four PNGs it wrote" test "$(grep -c '^wrote maps/tf' out.txt)" -eq 4
check "the four PNGs are PNGs; the alignment has a 26-pixel cell per source character and <eos>" $PY - maps <<'PY'
import struct, sys
sizes = {}
for name in ("tf.png", "tf_encoder.png", "tf_decoder.png", "tf_cross.png"):
    data = open(f"{sys.argv[1]}/{name}", "rb").read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n", name
    sizes[name] = struct.unpack(">II", data[16:24])
w, h = sizes["tf.png"]
assert 26 * 27 <= w <= 26 * 27 + 400, (w, h)
PY
# The heights follow the translation: 10 characters when the model has learnt the dates.
learned "the four PNGs have the sizes of the translation" $PY - maps <<'PY'
import struct, sys
def size(name):
    data = open(f"{sys.argv[1]}/{name}", "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", name
    return struct.unpack(">II", data[16:24])
# Alignment: 26 source characters + <eos> across, 10 output characters + <eos> down, 26 px cells.
w, h = size("tf.png"); assert 26 * 27 <= w <= 26 * 27 + 400 and 26 * 11 <= h <= 26 * 11 + 400, (w, h)
# Grids: 4 heads across, 2 layers down; the encoder's tiles square, the cross-attention's wider than tall.
for name in ("tf_encoder.png", "tf_decoder.png", "tf_cross.png"):
    w, h = size(name); assert w > 4 * 100 and h > 2 * 100, (name, w, h)
we, he = size("tf_encoder.png"); wc, hc = size("tf_cross.png")
assert wc == we and hc < he, (we, he, wc, hc)
PY

# --- export: TorchScript gives exactly the checkpoint's translations ---
expect 0 "" export --checkpoint tf/best.ckpt --out tf.pt
for beam in 1 4; do
  expect 0 "" predict --checkpoint tf/best.ckpt --input-file dates.txt --beam $beam --json
  cp out.txt ckpt$beam.json
  expect 0 "" predict --torchscript tf.pt --input-file dates.txt --beam $beam --json
  check "predict --torchscript == checkpoint (beam $beam)" $PY - ckpt$beam.json out.txt <<'PY'
import json, sys
a, b = (json.load(open(f))["predictions"] for f in sys.argv[1:3])
assert [p["output"] for p in a] == [p["output"] for p in b]
assert all(abs(x["log_prob"] - y["log_prob"]) < 1e-4 for x, y in zip(a, b))
PY
done
check "the exported graphs name no device, so they run wherever they are loaded" $PY - tf.pt <<'PY'
import sys, torch
m = torch.jit.load(sys.argv[1])
for method in ("encode", "decode_step"):
    code = getattr(m, method).code
    assert "torch.device(" not in code, [l for l in code.splitlines() if "torch.device(" in l]
PY
# A translation that ends within 14 steps: a model that has learnt the dates.
learned "Python torch.jit.load decodes greedily with the cache at a new batch size" $PY "$CLI_DIR/greedy_torchscript.py" tf.pt greedy.txt 14

# --- PyTorch's nn.Transformer with the same weights computes the same distributions ---
# A post-norm model (the trained one) and a pre-norm one with learned positions and GELU.
expect 0 "" train --task translate --model transformer_small --synth-size 256 --steps 3 --batch-size 16 --workers 1 \
  --set encoder_layers=2 --set decoder_layers=1 --set width=32 --set heads=4 --set ffn=48 \
  --set norm=pre --set positions=learned --set activation=gelu --set tie_output=false --out pre
expect 0 "" export --checkpoint pre/last.ckpt --out pre.pt
for model in tf.pt pre.pt; do
  check "nn.Transformer with $model's weights gives its log-probabilities at every step" $PY - $model <<'PY'
import math, sys, warnings, torch, torch.nn as nn
warnings.filterwarnings("ignore")  # nn.Transformer's note that nested tensors are a prototype
m = torch.jit.load(sys.argv[1])
p = {k: v.detach() for k, v in m.named_parameters()}
cfg = dict(d=p["src_embed.weight"].shape[1], enc=1 + max(int(k.split(".")[2]) for k in p if k.startswith("encoder.layers.")),
           dec=1 + max(int(k.split(".")[2]) for k in p if k.startswith("decoder.layers.")),
           ffn=p["encoder.layers.0.linear1.weight"].shape[0], pre="encoder.norm.weight" in p, learned="src_pos.weight" in p,
           gelu=sys.argv[1] == "pre.pt")
ref = nn.Transformer(d_model=cfg["d"], nhead=4, num_encoder_layers=cfg["enc"], num_decoder_layers=cfg["dec"], dim_feedforward=cfg["ffn"],
                     dropout=0.0, activation="gelu" if cfg["gelu"] else "relu", batch_first=True, norm_first=cfg["pre"])
state = {}
for k, v in p.items():
    k = k.replace("in_proj.weight", "in_proj_weight").replace("in_proj.bias", "in_proj_bias")
    if k.startswith(("encoder.", "decoder.")): state[k] = v
if not cfg["pre"]:  # zoo's post-norm stacks end with their last layer's norm; nn.Transformer adds one more
    ref.encoder.norm = nn.Identity()
    ref.decoder.norm = nn.Identity()
missing, unexpected = ref.load_state_dict(state, strict=False)
assert not missing and not unexpected, (missing, unexpected)
ref.eval()
d = cfg["d"]
def positions(n, which):
    if cfg["learned"]: return p[f"{which}_pos.weight"][:n]
    pos, div = torch.arange(n).unsqueeze(1), torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d); pe[:, 0::2] = torch.sin(pos * div); pe[:, 1::2] = torch.cos(pos * div)
    return pe
src = torch.tensor([[5, 6, 7, 8, 3], [9, 10, 3, 0, 0], [11, 3, 0, 0, 0]])
tgt_in = torch.tensor([[2, 4, 5, 6], [2, 7, 8, 9], [2, 9, 5, 4]])
tgt_embed = p.get("tgt_embed.weight", p["src_embed.weight"])
with torch.no_grad():
    x = p["src_embed.weight"][src] * math.sqrt(d) + positions(5, "src")
    y = tgt_embed[tgt_in] * math.sqrt(d) + positions(4, "tgt")
    pad = src.eq(0)
    out = ref(x, y, tgt_mask=nn.Transformer.generate_square_subsequent_mask(4), src_key_padding_mask=pad, memory_key_padding_mask=pad)
    logits = out @ tgt_embed.T + p["generator_bias"] if "generator_bias" in p else out @ p["generator.weight"].T + p["generator.bias"]
    expected = torch.log_softmax(logits, -1)
    state = m.encode(src, src.ne(0).sum(1))
    for t in range(4):
        result = m.decode_step(tgt_in[:, t], *state)
        state = result[1:-1]
        err = (result[0] - expected[:, t]).abs().max().item()
        assert err < 1e-4, (t, err)
PY
done

# --- share_embeddings: one joint vocabulary, one embedding matrix, tied output ---
expect 0 "" train --task translate --model transformer_small --synth-size 512 --epochs 1 --batch-size 32 --workers 1 \
  --set encoder_layers=1 --set decoder_layers=1 --set width=32 --set heads=4 --set ffn=64 --set share_embeddings=true --out joint
check "share_embeddings trains on one joint vocabulary" grep -qE "vocabularies ([0-9]+) \(source\) and \1 \(target\)" err.txt
expect 0 "" predict --checkpoint joint/last.ckpt --input "3 March 2021"

# --- bench: the issue's model, one step ---
expect 0 "" bench --config transformer_mt --warmup 0 --steps 1 --json
check "transformer_mt benchmarks the 10,655,600-parameter model in target tokens (64 x 23)" \
  test "$(json x 'd["params"] == 10655600 and d["unit"] == "tokens" and d["per_s"] > 0 and d["batch"] == 64' out.txt)" = True

# --- usage errors ---
expect 2 "norm 'middle'" train --task translate --model transformer_small --set norm=middle --epochs 1
expect 2 "heads 5" train --task translate --model transformer_small --set heads=5 --epochs 1
expect 2 "positions 'rotary'" train --task translate --model transformer_small --set positions=rotary --epochs 1
expect 2 "share_embeddings" train --task translate --model transformer_small --set share_embedings=true --epochs 1

finish transformer
