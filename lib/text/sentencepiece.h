// SentencePiece subword tokenizers (Kudo & Richardson), BPE or unigram, trained on the training
// split with Debian's libsentencepiece. The trained model travels inside the checkpoint as
// base64 of its serialized protobuf, so no side file is needed.
//
// libsentencepiece is never linked into zoo: it lives in the plug-in libzoo_sentencepiece.so
// (lib/text/plugin/), loaded on first use with its own symbol scope, because its protobuf clashes
// with LibTorch's (see the plug-in's header). zoo looks for the plug-in in $ZOO_SENTENCEPIECE_LIB,
// then beside the executable, in its parent folder and in ../lib.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "lib/text/tokenizer.h"

namespace zoo::text {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // `model_proto`: a serialized ModelProto (what train_sentencepiece returns).
  SentencePieceTokenizer(std::string model_proto, bool lowercase);
  ~SentencePieceTokenizer() override;
  std::vector<std::string> tokenize(std::string_view text) const override;  // pieces such as "▁Män" "ner"
  std::string detokenize(const std::vector<std::string>& tokens) const override;
  Json to_json() const override;
  bool lowercases() const override { return lowercase_; }
  std::string model_type() const;  // "bpe" or "unigram"

 private:
  std::string model_proto_;
  bool lowercase_;
  std::shared_ptr<void> processor_;  // a sentencepiece::SentencePieceProcessor inside the plug-in
};

// Trains a model of `vocab_size` pieces ("bpe" or "unigram") on `sentences` (lowercased first
// when `lowercase`); deterministic for the same input. Errors name the cause (e.g. a
// vocabulary larger than the text allows).
std::string train_sentencepiece(const std::vector<std::string>& sentences, const std::string& model_type,
                                int64_t vocab_size, bool lowercase);

// Whether the plug-in can be loaded here (the bpe and unigram tokenizers work).
bool sentencepiece_available();

std::string base64_encode(const std::string& bytes);
std::string base64_decode(const std::string& text);  // throws zoo::Error on a bad character

}  // namespace zoo::text
