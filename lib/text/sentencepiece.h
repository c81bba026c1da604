// SentencePiece subword tokenizers (Kudo & Richardson), BPE or unigram, trained on the training
// split with Debian's libsentencepiece. The trained model travels inside the checkpoint as
// base64 of its serialized protobuf, so no side file is needed.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "lib/text/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;  // only with ZOO_WITH_SENTENCEPIECE (see CMakeLists.txt)
}

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
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

// Trains a model of `vocab_size` pieces ("bpe" or "unigram") on `sentences` (lowercased first
// when `lowercase`); deterministic for the same input. Errors name the cause (e.g. a
// vocabulary larger than the text allows).
std::string train_sentencepiece(const std::vector<std::string>& sentences, const std::string& model_type,
                                int64_t vocab_size, bool lowercase);

std::string base64_encode(const std::string& bytes);
std::string base64_decode(const std::string& text);  // throws zoo::Error on a bad character

}  // namespace zoo::text
