"""BERT (Devlin et al. 2018) written in PyTorch from the paper and the layout of the published
checkpoints (Google's BERT, as Hugging Face's BertModel / BertForMaskedLM name its tensors), to
check zoo's bert_* models against: logits, parameter names and counts. Without the `transformers`
package, which this machine does not have.

  python3 bert_reference.py --count [--layers 2 --width 128 --heads 2 --vocab 30522]
  python3 bert_reference.py --write DIR --layers 2 --width 64 --heads 2   (for zoo import --from bert)
  python3 bert_reference.py --compare DIR EXPORT.pt
"""
import argparse
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Embeddings(nn.Module):
    def __init__(self, vocab, width, max_positions=512, type_vocab=2):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, width, padding_idx=0)
        self.position_embeddings = nn.Embedding(max_positions, width)
        self.token_type_embeddings = nn.Embedding(type_vocab, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, tokens, types):
        positions = torch.arange(tokens.shape[1]).unsqueeze(0)
        return self.LayerNorm(self.word_embeddings(tokens) + self.position_embeddings(positions) + self.token_type_embeddings(types))


class SelfAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(width, width), nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x, padding):
        B, T, H = x.shape
        d = H // self.heads
        q, k, v = (p(x).view(B, T, self.heads, d).transpose(1, 2) for p in (self.query, self.key, self.value))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        # Hugging Face adds a large negative number (the dtype's minimum) at padding keys.
        scores = scores + padding[:, None, None, :].float() * torch.finfo(scores.dtype).min
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H)


class Output(nn.Module):  # BertSelfOutput / BertOutput
    def __init__(self, n_in, width):
        super().__init__()
        self.dense = nn.Linear(n_in, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, x, residual):
        return self.LayerNorm(residual + self.dense(x))


class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.self = SelfAttention(width, heads)
        self.output = Output(width, width)

    def forward(self, x, padding):
        return self.output(self.self(x, padding), x)


class Intermediate(nn.Module):
    def __init__(self, width, ffn):
        super().__init__()
        self.dense = nn.Linear(width, ffn)

    def forward(self, x):
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, width, heads, ffn):
        super().__init__()
        self.attention = Attention(width, heads)
        self.intermediate = Intermediate(width, ffn)
        self.output = Output(ffn, width)

    def forward(self, x, padding):
        a = self.attention(x, padding)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, layers, width, heads, ffn):
        super().__init__()
        self.layer = nn.ModuleList(Layer(width, heads, ffn) for _ in range(layers))


class Pooler(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.dense = nn.Linear(width, width)

    def forward(self, states):
        return torch.tanh(self.dense(states[:, 0]))


class Bert(nn.Module):
    """BertModel: embeddings, encoder.layer.N, pooler."""

    def __init__(self, vocab=30522, layers=12, width=768, heads=12, ffn=None):
        super().__init__()
        self.embeddings = Embeddings(vocab, width)
        self.encoder = Encoder(layers, width, heads, ffn or 4 * width)
        self.pooler = Pooler(width)

    def forward(self, tokens, types=None):
        types = torch.zeros_like(tokens) if types is None else types
        padding = tokens.eq(0)
        h = self.embeddings(tokens, types)
        for layer in self.encoder.layer:
            h = layer(h, padding)
        return h


class Transform(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, x):
        return self.LayerNorm(F.gelu(self.dense(x)))


class Predictions(nn.Module):  # cls.predictions: the transform, then the tied decoder and its bias
    def __init__(self, width, vocab):
        super().__init__()
        self.transform = Transform(width)
        self.bias = nn.Parameter(torch.zeros(vocab))


class Cls(nn.Module):
    def __init__(self, width, vocab):
        super().__init__()
        self.predictions = Predictions(width, vocab)


class BertForMaskedLM(nn.Module):
    """Hugging Face's BertForMaskedLM layout: bert.*, cls.predictions.* (decoder = word embeddings)."""

    def __init__(self, **sizes):
        super().__init__()
        self.bert = Bert(**sizes)
        width, vocab = self.bert.pooler.dense.in_features, self.bert.embeddings.word_embeddings.num_embeddings
        self.cls = Cls(width, vocab)

    def forward(self, tokens, types=None):
        h = self.cls.predictions.transform(self.bert(tokens, types))
        return h @ self.bert.embeddings.word_embeddings.weight.t() + self.cls.predictions.bias


WORDS = ["the", "king", "is", "dead", "long", "live", "queen", "a", "horse", "my", "kingdom", "for", "##s", "##ed", "to", "be", "or", "not"]
SPECIALS = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TEXT = ["the", "king", "[MASK]", "dead"]  # what `zoo predict` fills: "the king [MASK] dead"


def write_published(folder, layers, width, heads, ffn):
    """A BertForPreTraining-style state dict with random weights and every extra a published file
    carries (the tied decoder, the next-sentence head, the position-id buffer, TensorFlow's
    LayerNorm gamma/beta), its vocab.txt, fixed token rows and the reference's scores for them."""
    torch.manual_seed(7)
    pieces = SPECIALS + WORDS
    model = BertForMaskedLM(vocab=len(pieces), layers=layers, width=width, heads=heads, ffn=ffn)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(1.0 + 0.1 * torch.randn_like(p) if "LayerNorm.weight" in name else 0.1 * torch.randn_like(p))
    state = dict(model.state_dict())
    state["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"].clone()
    state["cls.predictions.decoder.bias"] = state["cls.predictions.bias"].clone()
    state["cls.seq_relationship.weight"] = torch.randn(2, width)
    state["cls.seq_relationship.bias"] = torch.randn(2)
    state["bert.embeddings.position_ids"] = torch.arange(512).unsqueeze(0)
    state["bert.embeddings.LayerNorm.gamma"] = state.pop("bert.embeddings.LayerNorm.weight")
    state["bert.embeddings.LayerNorm.beta"] = state.pop("bert.embeddings.LayerNorm.bias")
    torch.save(state, f"{folder}/pytorch_model.bin")
    with open(f"{folder}/vocab.txt", "w") as f:
        f.write("\n".join(pieces) + "\n")
    ids = {p: i for i, p in enumerate(pieces)}
    tokens = torch.tensor([[ids["[CLS]"], ids["the"], ids["king"], ids["[MASK]"], ids["dead"], ids["[SEP]"]],
                           [ids["[CLS]"], ids["long"], ids["live"], ids["[SEP]"], 0, 0]])
    model.eval()
    with torch.no_grad():
        scores = model(tokens)
    torch.save({"tokens": tokens, "scores": scores}, f"{folder}/reference.pt")
    # The piece the reference puts at the [MASK] of "the king [MASK] dead".
    print(pieces[int(scores[0, 3].argmax())])


def compare_export(folder, export):
    """The TorchScript export of the imported checkpoint against the reference's scores (the padded
    row's padding positions included: both compute them the same way)."""
    reference = torch.load(f"{folder}/reference.pt")
    scores = torch.jit.load(export)(reference["tokens"])
    diff = (scores - reference["scores"]).abs().max().item()
    print(f"max |zoo - reference| = {diff:.3g}")
    return 0 if diff < 1e-4 else 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", action="store_true")
    parser.add_argument("--write", metavar="DIR", help="write a published-style state dict, vocab.txt and reference scores")
    parser.add_argument("--compare", nargs=2, metavar=("DIR", "EXPORT"), help="check zoo's TorchScript export against DIR's reference")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--ffn", type=int, default=0)
    parser.add_argument("--vocab", type=int, default=30522)
    args = parser.parse_args()
    if args.write:
        write_published(args.write, args.layers, args.width, args.heads, args.ffn or 4 * args.width)
        return 0
    if args.compare:
        return compare_export(*args.compare)
    model = Bert(args.vocab, args.layers, args.width, args.heads)
    print(sum(p.numel() for p in model.parameters()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
