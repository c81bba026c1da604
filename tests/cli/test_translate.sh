#!/usr/bin/env bash
# End-to-end translation: train seq2seq_attn and seq2seq on synth:dates, then eval, predict
# (sentences, a file, JSON), visualize, export, TorchScript in C++ and Python, parallel-file data
# written by `zoo data synth --kind dates`, and the usage errors.
# Environment (set by ctest): ZOO (the binary), ZOO_WORK (scratch folder), ZOO_SHARED_DATA.
set -u
W=${ZOO_WORK:-/tmp/zoo-work}/translate
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# A small model that learns dates in seconds: ~10 s per run on one core.
SMALL=(--synth-size 4096 --epochs "$(budget 4 1)" --batch-size 32 --opt adam --lr 3e-3 --workers 1
       --set embedding=64 --set encoder_hidden=64 --set hidden=128 --set dropout=0.1)

# --- train: attention learns the dates, the fixed context does not ---
expect 0 "" train --task translate --model seq2seq_attn "${SMALL[@]}" --set attention_hidden=64 --out attn --json
exact=$(json x 'd["best_metrics"]["exact"]' out.txt)
echo "     seq2seq_attn (bahdanau) exact match on synth:dates val: $exact%"
learned "seq2seq_attn reaches 85% exact match on synth:dates (got $exact)" ge "$exact" 85
expect 0 "" train --task translate --model seq2seq "${SMALL[@]}" --out plain --json
plain=$(json x 'd["best_metrics"]["exact"]' out.txt)
echo "     seq2seq (no attention) exact match: $plain%"
learned "attention beats the single context vector by 40 points ($exact vs $plain)" ge "$exact" "$($PY -c "print($plain + 40)")"

# --- eval ---
expect 0 "" eval --checkpoint attn/best.ckpt --split test --beam 3 --json
check "eval --json has bleu, ppl, loss, exact" test "$(json x '",".join(sorted(d["metrics"]))' out.txt)" = "bleu,exact,loss,ppl"
check "eval reports the test split's 1024 pairs" test "$(json x 'd["examples"]' out.txt)" = 1024
learned "test BLEU above 90" ge "$(json x 'd["metrics"]["bleu"]' out.txt)" 90

# --- predict: sentences, a file (same order, one line each), JSON ---
expect 0 "" predict --checkpoint attn/best.ckpt --input "3 March 2021" "December 25, 1999"
learned "predict translates the two dates" test "$(cat out.txt | tr '\n' ' ')" = "2021-03-03 1999-12-25 "
printf '3 March 2021\n\n07.07.1987\nWednesday, March 3rd 2021\n' > dates.txt
expect 0 "" predict --checkpoint attn/best.ckpt --input-file dates.txt
check "predict --input-file keeps one output line per input line" test "$(wc -l < out.txt)" -eq 4
learned "predict --input-file output in order" test "$(sed -n 3p out.txt)" = "1987-07-07"
expect 0 "" predict --checkpoint attn/best.ckpt --input "3 March 2021" --json --beam 4
check "predict --json has output and score" test "$(json x '"output" in d["predictions"][0] and "score" in d["predictions"][0]' out.txt)" = True
learned "predict --json translates the first date" test "$(json x 'd["predictions"][0]["output"]' out.txt)" = "2021-03-03"

# --- beam 1 and beam 5 agree with greedy on an easy input; the checkpoint's own output ---
expect 0 "" predict --checkpoint attn/best.ckpt --input-file dates.txt --beam 1
cp out.txt greedy.txt

# --- SentencePiece BPE and unigram: trained on the training split, carried by the checkpoint ---
for kind in bpe unigram; do
  expect 0 "" train --task translate --model seq2seq_attn --synth-size 512 --epochs 1 --batch-size 32 --workers 1 \
    --set embedding=32 --set encoder_hidden=32 --set hidden=64 --set attention_hidden=32 \
    --set tokenizer=$kind --set src_vocab=100 --set tgt_vocab=30 --out sp_$kind
  check "$kind: the run logs its subword vocabularies" grep -qE "$kind tokens, vocabularies [0-9]+ \(source\)" err.txt
  expect 0 "" predict --checkpoint sp_$kind/best.ckpt --input "3 March 2021"
  check "$kind: predict detokenizes (no ▁ left in the output)" bash -c "test -s out.txt && ! grep -q '▁' out.txt"
done

# --- visualize ---
expect 0 "" visualize --checkpoint attn/best.ckpt --input "Wednesday, March 3rd 2021" --out align.png
check "alignment PNG has a sensible size" $PY - align.png <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
width, height = struct.unpack(">II", data[16:24])
# 26 source characters + <eos> across, 10 output characters + <eos> down, 26 px cells + labels.
assert 26 * 27 <= width <= 26 * 27 + 400 and 26 * 11 <= height <= 26 * 11 + 400, (width, height)
PY
expect 2 "no attention" visualize --checkpoint plain/best.ckpt --input "3 March 2021" --out plain.png

# --- export: TorchScript gives exactly the checkpoint's translations, in C++ and in Python ---
expect 0 "" export --checkpoint attn/best.ckpt --out attn.pt
for beam in 1 4; do
  expect 0 "" predict --checkpoint attn/best.ckpt --input-file dates.txt --beam $beam --json
  cp out.txt ckpt$beam.json
  expect 0 "" predict --torchscript attn.pt --input-file dates.txt --beam $beam --json
  check "predict --torchscript == checkpoint (beam $beam)" $PY - ckpt$beam.json out.txt <<'PY'
import json, sys
a, b = (json.load(open(f))["predictions"] for f in sys.argv[1:3])
assert [p["output"] for p in a] == [p["output"] for p in b]
assert all(abs(x["log_prob"] - y["log_prob"]) < 1e-4 for x, y in zip(a, b))
PY
done
check "the exported graphs name no device, so they run wherever they are loaded" $PY - attn.pt <<'PY'
import sys, torch
m = torch.jit.load(sys.argv[1])
for method in ("encode", "decode_step"):
    code = getattr(m, method).code
    assert "torch.device(" not in code, [l for l in code.splitlines() if "torch.device(" in l]
PY
# A translation that ends within 12 steps: a model that has learnt the dates.
learned "Python torch.jit.load runs encode/decode_step at a new batch size and length" $PY "$CLI_DIR/greedy_torchscript.py" attn.pt greedy.txt 12

# --- data synth --kind dates: the same pairs as parallel files, trained on as such ---
expect 0 "" data synth --kind dates --out dates --n 256 --seed 3
check "data synth writes train/val/test.{human,iso}" test -s dates/train.human -a -s dates/val.iso -a -s dates/test.iso
check "256 training lines" test "$(wc -l < dates/train.iso)" -eq 256
expect 0 "" train --task translate --model seq2seq_attn --data dates --src human --tgt iso --epochs 1 --batch-size 32 \
  --set embedding=16 --set encoder_hidden=16 --set hidden=32 --set attention_hidden=16 --out files --json
check "training on the parallel files saw 256 pairs" grep -q "256 training pairs" err.txt
expect 0 "" eval --checkpoint files/best.ckpt --data dates --split test --beam 1 --json
check "eval on the written test split" test "$(json x 'd["examples"]' out.txt)" = 64
gzip -k dates/train.human dates/train.iso && mkdir -p gz && mv dates/train.*.gz gz/
printf 'ein Hund\ta dog\nzwei Katzen\ttwo cats\ndrei Vögel\tthree birds\nMänner laufen\tmen run\n' > pairs.tsv
expect 0 "" train --task translate --model seq2seq --data pairs.tsv --val-fraction 0.25 --epochs 1 --batch-size 2 \
  --set embedding=8 --set encoder_hidden=8 --set hidden=8 --out tsv
expect 0 "" train --task translate --model seq2seq --data gz/train --src human --tgt iso --epochs 1 --batch-size 64 \
  --set embedding=8 --set encoder_hidden=8 --set hidden=8 --out gzrun
check ".gz prefix files are read (held-out 10% of 256)" grep -q "231 training pairs" err.txt

# --- bench: the issue's model, one step ---
expect 0 "" bench --config gru_bahdanau --warmup 0 --steps 1 --json
check "gru_bahdanau benchmarks the 14,816,624-parameter model in sentences" test "$(json x 'd["params"] == 14816624 and d["unit"] == "sentences" and d["per_s"] > 0' out.txt)" = True

# --- usage errors and bad data ---
expect 2 "attention" train --task translate --model seq2seq_attn --set attention=magic --epochs 1
expect 2 "cell" train --task translate --model seq2seq_attn --set cell=transformer --epochs 1
expect 2 "src" train --task translate --model seq2seq_attn --data dates --epochs 1
expect 2 "bpe|tokenizer" train --task translate --model seq2seq_attn --set tokenizer=morse --epochs 1
head -n 10 dates/train.iso > short.iso && cp dates/train.human short.human
expect 1 "short.human has 256 lines, .*short.iso has 10" train --task translate --model seq2seq --data short --src human --tgt iso --epochs 1
printf 'gut\n\xff kaputt\n' > bad.de && printf 'good\nbroken\n' > bad.en
expect 1 "bad.de:2: invalid UTF-8" train --task translate --model seq2seq --data bad --src de --tgt en --epochs 1
expect 2 "beam" predict --checkpoint attn/best.ckpt --input "3 March 2021" --beam 0
expect 1 "not found" predict --checkpoint attn/best.ckpt --input-file nope.txt

finish translate
