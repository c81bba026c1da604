// Where a BERT model's WordPiece vocabulary comes from when none is given, and how it travels in a
// checkpoint. Google's vocabularies were learnt with a WordPiece trainer that is not public; Hugging
// Face's trainer learns BPE merges and keeps the pieces. zoo does the same with its SentencePiece
// (BPE, on the basic tokenizer's words), converts SentencePiece's word-initial "▁piece" to
// "piece" and its inner pieces to "##piece", and adds every character of the text in both forms,
// so that any word of the training text splits without [UNK].
#pragma once
#include <string>
#include <vector>

#include "lib/core/options.h"
#include "lib/text/wordpiece.h"

namespace zoo::text {

// A vocabulary of at most `size` pieces ([PAD] [UNK] [CLS] [SEP] [MASK] first, then single
// characters, then the learnt pieces by frequency) for `lines`; deterministic. UsageError when
// `size` cannot hold the specials and the text's characters; needs the SentencePiece plug-in.
WordPieceTokenizer learn_wordpiece(const std::vector<std::string>& lines, int64_t size, bool lowercase);

// {"kind": "wordpiece", "lowercase", "pieces"}: what a checkpoint stores; errors name the bad key.
Json wordpiece_to_json(const WordPieceTokenizer& tokenizer);
WordPieceTokenizer wordpiece_from_json(const Json& j);

}  // namespace zoo::text
