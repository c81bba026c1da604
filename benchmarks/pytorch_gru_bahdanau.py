#!/usr/bin/env python3
"""The gru_bahdanau benchmark written the straightforward PyTorch way, for comparison with
`zoo bench --config gru_bahdanau` (docs/PERFORMANCE.md).

The same model and step as lib/bench/bench.cpp: vocabularies 8000/6000, embeddings 256, a
bidirectional GRU encoder of 256 per direction, a GRU decoder of 512 initialised by
tanh(Linear([h_fwd_last; h_bwd_first])), additive attention of width 512, decoder input
[emb(y_{t-1}); c_t], output Linear over [s_t; c_t; emb(y_{t-1})]; batch 64, source and target
length 24 (23 teacher-forced steps), Adam 1e-3, clip 1.0, random ids.

--style strong (the default, what scripts/bench_compare.sh runs) is how an experienced engineer
writes it: the keys U h_j projected once per batch, not once per step; the target embeddings looked
up once; an nn.GRUCell per step; the states and contexts of all steps projected to the vocabulary
in one matrix product after the loop; Adam and the clipping over foreach kernels; gradients set to None.
--style tutorial is the common tutorial loop: each step embeds one token, scores attention with
Linear([s; h_j]) over the whole source, runs nn.GRU for one step and projects to the vocabulary.
Both have the same parameters (U is the key half of the tutorial's Linear([s; h_j])).

Usage: /usr/bin/python3 benchmarks/pytorch_gru_bahdanau.py [--style strong|tutorial] [--threads N] [--steps N] [--warmup N]
"""
import argparse
import json

import torch
import torch.nn as nn
import torch.nn.functional as F

import twin  # benchmarks/twin.py: the command line and the clock the PyTorch programs share


class Encoder(nn.Module):
    def __init__(self, vocab, emb, hid, dec_hid):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.rnn = nn.GRU(emb, hid, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(hid * 2, dec_hid)

    def forward(self, src):
        outputs, hidden = self.rnn(self.embedding(src))
        hidden = torch.tanh(self.fc(torch.cat((hidden[-2], hidden[-1]), dim=1)))
        return outputs, hidden


class Attention(nn.Module):
    def __init__(self, enc_hid, dec_hid, att):
        super().__init__()
        self.attn = nn.Linear(enc_hid * 2 + dec_hid, att)
        self.v = nn.Linear(att, 1, bias=False)

    def forward(self, hidden, enc_out):
        src_len = enc_out.shape[1]
        hidden = hidden.unsqueeze(1).repeat(1, src_len, 1)
        energy = torch.tanh(self.attn(torch.cat((hidden, enc_out), dim=2)))
        return F.softmax(self.v(energy).squeeze(2), dim=1)


class Decoder(nn.Module):
    def __init__(self, vocab, emb, enc_hid, dec_hid, att):
        super().__init__()
        self.attention = Attention(enc_hid, dec_hid, att)
        self.embedding = nn.Embedding(vocab, emb)
        self.rnn = nn.GRU(enc_hid * 2 + emb, dec_hid, batch_first=True)
        self.fc_out = nn.Linear(enc_hid * 2 + dec_hid + emb, vocab)

    def forward(self, token, hidden, enc_out):
        embedded = self.embedding(token).unsqueeze(1)
        a = self.attention(hidden, enc_out).unsqueeze(1)
        context = torch.bmm(a, enc_out)
        output, hidden = self.rnn(torch.cat((embedded, context), dim=2), hidden.unsqueeze(0))
        logits = self.fc_out(torch.cat((output.squeeze(1), context.squeeze(1), embedded.squeeze(1)), dim=1))
        return logits, hidden.squeeze(0)


class StrongSeq2Seq(nn.Module):
    """The same model, written for speed: keys once, one output projection after the loop."""

    def __init__(self, src_vocab=8000, tgt_vocab=6000, emb=256, enc_hid=256, dec_hid=512, att=512):
        super().__init__()
        self.encoder = Encoder(src_vocab, emb, enc_hid, dec_hid)
        self.embedding = nn.Embedding(tgt_vocab, emb)
        self.query = nn.Linear(dec_hid, att)                 # W s_{i-1} (+ the scores' bias)
        self.key = nn.Linear(enc_hid * 2, att, bias=False)   # U h_j, once per batch
        self.v = nn.Linear(att, 1, bias=False)
        self.cell = nn.GRUCell(emb + enc_hid * 2, dec_hid)
        self.fc_out = nn.Linear(dec_hid + enc_hid * 2 + emb, tgt_vocab)

    def forward(self, src, tgt_in):
        enc_out, s = self.encoder(src)                       # (B, S, 512), (B, 512)
        keys = self.key(enc_out)                              # (B, S, att)
        embedded = self.embedding(tgt_in)                     # (B, T, emb)
        states, contexts = [], []
        for t in range(tgt_in.shape[1]):
            scores = self.v(torch.tanh(self.query(s).unsqueeze(1) + keys)).squeeze(2)  # (B, S)
            context = torch.bmm(F.softmax(scores, dim=1).unsqueeze(1), enc_out).squeeze(1)
            s = self.cell(torch.cat((embedded[:, t], context), dim=1), s)
            states.append(s)
            contexts.append(context)
        features = torch.cat((torch.stack(states, 1), torch.stack(contexts, 1), embedded), dim=2)
        return self.fc_out(features)                          # (B, T, vocab), one product


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder(8000, 256, 256, 512)
        self.decoder = Decoder(6000, 256, 256, 512, 512)

    def forward(self, src, tgt_in):
        enc_out, hidden = self.encoder(src)
        outputs = []
        for t in range(tgt_in.shape[1]):
            logits, hidden = self.decoder(tgt_in[:, t], hidden, enc_out)
            outputs.append(logits)
        return torch.stack(outputs, dim=1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--style", choices=["strong", "tutorial"], default="strong")
    args = twin.parse_args(parser, warmup=2, steps=5)
    batch, length = 64, 24
    strong = args.style == "strong"
    model = StrongSeq2Seq() if strong else Seq2Seq()
    model.train()
    parameters = list(model.parameters())
    adam = torch.optim.Adam(parameters, lr=1e-3, foreach=strong)
    src = torch.randint(4, 8000, (batch, length))
    tgt = torch.randint(4, 6000, (batch, length))

    def step():
        adam.zero_grad(set_to_none=strong)
        logits = model(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten())
        loss.backward()
        if strong:
            twin.clip_grad_norm_(parameters, 1.0)
        else:
            nn.utils.clip_grad_norm_(parameters, 1.0)
        adam.step()

    seconds = twin.seconds_per_step(step, args.warmup, args.steps)
    print(json.dumps({"config": "gru_bahdanau_pytorch", "unit": "sentences", "per_s": batch / seconds, "step_ms": 1000 * seconds,
                      "threads": torch.get_num_threads(), "style": args.style, "params": sum(p.numel() for p in model.parameters()),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
