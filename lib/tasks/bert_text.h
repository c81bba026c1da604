// What --task mlm and --task text_classify share: the WordPiece tokenizer a BERT reads with
// (a vocab.txt, one learnt from the training text, or the one of the checkpoint it starts from),
// texts as [CLS] pieces [SEP] rows padded with [PAD], and attention grids for `zoo visualize`.
#pragma once
#include <string>
#include <vector>

#include "data/bert_inputs.h"
#include "lib/core/options.h"
#include "lib/text/wordpiece.h"
#include "lib/text/wordpiece_vocab.h"
#include "models/bert/bert.h"

namespace zoo {

// The tokenizer of a new run: `inputs.vocab_file`'s pieces, or a vocabulary of
// inputs.learnt_vocab pieces learnt from `training_lines`.
text::WordPieceTokenizer bert_tokenizer(const data::BertInputs& inputs, const std::vector<std::string>& training_lines);

// Text -> piece ids, where each literal "[MASK]" stays the [MASK] piece (what fill-mask reads).
std::vector<int64_t> encode_with_masks(const text::WordPieceTokenizer& tokenizer, const std::string& text);

// [CLS] ids [SEP], the ids cut to seq_len - 2.
std::vector<int64_t> bert_sequence(const text::WordPieceTokenizer& tokenizer, std::vector<int64_t> ids, int64_t seq_len);

// Rows of ids as a (B, T) int64 tensor, T the longest row, the rest `fill` ([PAD], 0; -1 for labels).
torch::Tensor pad_rows(const std::vector<std::vector<int64_t>>& rows, int64_t fill = 0);

// The figures of `model`'s attention over the sequence `ids`, labelled with their pieces.
std::vector<std::string> write_bert_attention(models::BertImpl& model, const text::WordPieceTokenizer& tokenizer, const std::vector<int64_t>& ids,
                                              const viz::LookOptions& look, const std::string& out_png, torch::Device device);

}  // namespace zoo
