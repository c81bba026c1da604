// How text becomes a BERT model's input, for --task mlm and --task text_classify: where the
// WordPiece vocabulary comes from, how long a sequence is, and (mlm) which pieces are masked.
// Options of every bert_* model; they travel in its checkpoint.
#pragma once
#include <string>

#include "lib/core/option_schema.h"

namespace zoo::data {

struct BertInputs {
  std::string vocab_file;       // a published model's vocab.txt; empty: learnt from the training text
  bool lowercase = true;        // the uncased models' normalisation
  int64_t learnt_vocab = 8000;  // pieces learnt when there is no vocab_file
  int64_t seq_len = 128;        // pieces per sequence with [CLS] and [SEP] (BERT's first phase)
  double mask_prob = 0.15;      // mlm: the share of pieces to predict
  bool whole_word = false;      // mlm: mask all pieces of a word together
  static const OptionSchema<BertInputs>& options();
};

inline const OptionSchema<BertInputs>& BertInputs::options() {
  static const auto schema =
      OptionSchema<BertInputs>("BERT inputs")
          .option("vocab_file", &BertInputs::vocab_file, anything(),
                  "a vocab.txt (one piece per line, [PAD] first) such as a published model's; empty: a vocabulary learnt from the training "
                  "text (SentencePiece BPE, written as WordPiece)")
          .option("lowercase", &BertInputs::lowercase, "lowercase and strip accents before splitting (the uncased models); false for cased vocabularies")
          .option("learnt_vocab", &BertInputs::learnt_vocab, at_least(16), "the size of a learnt vocabulary (no vocab_file)")
          .option("seq_len", &BertInputs::seq_len, at_least(3),
                  "pieces per sequence including [CLS] and [SEP]; mlm packs the text into windows of it, text_classify truncates to it")
          .option("mask_prob", &BertInputs::mask_prob, in_range(0, 1, "(]"), "mlm: the share of pieces to predict (80% [MASK], 10% random, 10% kept)")
          .option("whole_word", &BertInputs::whole_word, "mlm: mask every piece of a chosen word (whole-word masking)");
  return schema;
}

}  // namespace zoo::data
