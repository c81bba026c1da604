#include "lib/text/sentencepiece.h"

#ifdef ZOO_WITH_SENTENCEPIECE
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#else
namespace sentencepiece {
class SentencePieceProcessor {};  // never built: the constructor throws first
}  // namespace sentencepiece
#endif

#include <cstring>

#include "lib/core/error.h"
#include "lib/text/utf8.h"

namespace zoo::text {

namespace {

constexpr const char* kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#ifdef ZOO_WITH_SENTENCEPIECE
// Feeds the training sentences to the trainer from memory.
class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorIterator(const std::vector<std::string>& sentences) : sentences_(sentences) {}
  bool done() const override { return index_ >= sentences_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return sentences_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& sentences_;
  size_t index_ = 0;
};
#endif

}  // namespace

std::string base64_encode(const std::string& bytes) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kBase64[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += kBase64[(v >> 18) & 63];
    out += kBase64[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kBase64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(const std::string& text) {
  std::string out;
  uint32_t v = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const char* p = std::strchr(kBase64, c);
    if (!p || c == '\0') throw Error("base64: invalid character in encoded data");
    v = (v << 6) | static_cast<uint32_t>(p - kBase64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((v >> bits) & 0xFF);
    }
  }
  return out;
}

#ifdef ZOO_WITH_SENTENCEPIECE

SentencePieceTokenizer::SentencePieceTokenizer(std::string model_proto, bool lowercase)
    : model_proto_(std::move(model_proto)), lowercase_(lowercase), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const auto status = processor_->LoadFromSerializedProto(model_proto_);
  if (!status.ok()) throw Error("tokenizer: cannot load the SentencePiece model: " + status.ToString());
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<std::string> SentencePieceTokenizer::tokenize(std::string_view text) const {
  require_utf8(text);
  std::vector<std::string> pieces;
  const auto status = processor_->Encode(lowercase_ ? lowercase(text) : std::string(text), &pieces);
  if (!status.ok()) throw Error("SentencePiece: " + status.ToString());
  return pieces;
}

std::string SentencePieceTokenizer::detokenize(const std::vector<std::string>& tokens) const {
  std::string out;
  const auto status = processor_->Decode(tokens, &out);
  if (!status.ok()) throw Error("SentencePiece: " + status.ToString());
  return out;
}

std::string SentencePieceTokenizer::model_type() const {
  // The trainer spec is inside the proto; the processor does not expose it, so ask by piece
  // scores: BPE scores are minus the merge rank (integers), unigram scores log-probabilities.
  for (int id = 0; id < processor_->GetPieceSize(); ++id) {
    if (processor_->IsControl(id) || processor_->IsUnknown(id)) continue;
    const float score = processor_->GetScore(id);
    if (score != static_cast<float>(static_cast<int64_t>(score))) return "unigram";
  }
  return "bpe";
}

Json SentencePieceTokenizer::to_json() const {
  return {{"kind", "sentencepiece"}, {"lowercase", lowercase_}, {"model", base64_encode(model_proto_)}};
}

std::string train_sentencepiece(const std::vector<std::string>& sentences, const std::string& model_type, int64_t vocab_size,
                                bool lowercase) {
  if (model_type != "bpe" && model_type != "unigram") throw UsageError("invalid SentencePiece model type '" + model_type + "': expected bpe or unigram");
  if (vocab_size < 8) throw UsageError("invalid vocab_size " + std::to_string(vocab_size) + ": expected at least 8");
  std::vector<std::string> input;
  input.reserve(sentences.size());
  for (const auto& s : sentences) input.push_back(lowercase ? text::lowercase(s) : s);
  VectorIterator iterator(input);
  // Our Vocab adds <pad> <unk> <bos> <eos> itself; SentencePiece keeps its <unk> (id 0) only.
  // hard_vocab_limit=false lets a small corpus yield fewer pieces instead of failing.
  const std::unordered_map<std::string, std::string> args{
      {"model_type", model_type},         {"vocab_size", std::to_string(vocab_size)},
      {"character_coverage", "1.0"},      {"bos_id", "-1"},
      {"eos_id", "-1"},                   {"pad_id", "-1"},
      {"unk_id", "0"},                    {"hard_vocab_limit", "false"},
      {"num_threads", "1"},               {"minloglevel", "2"},
      {"input_sentence_size", "2000000"}, {"shuffle_input_sentence", "false"}};
  std::string proto;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &iterator, &proto);
  if (!status.ok()) throw Error("SentencePiece training failed: " + status.ToString());
  return proto;
}

#else

namespace {
[[noreturn]] void unavailable() {
  throw UsageError("the bpe and unigram tokenizers are not in this build: Debian's libsentencepiece 0.1.97 crashes when loaded "
                   "next to LibTorch's libonnx_proto; rebuild with -DZOO_SENTENCEPIECE=ON against a LibTorch without ONNX, "
                   "or use --set tokenizer=word|char");
}
}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(std::string model_proto, bool lowercase) : lowercase_(lowercase) { unavailable(); }
SentencePieceTokenizer::~SentencePieceTokenizer() = default;
std::vector<std::string> SentencePieceTokenizer::tokenize(std::string_view) const { unavailable(); }
std::string SentencePieceTokenizer::detokenize(const std::vector<std::string>&) const { unavailable(); }
std::string SentencePieceTokenizer::model_type() const { unavailable(); }
Json SentencePieceTokenizer::to_json() const { unavailable(); }
std::string train_sentencepiece(const std::vector<std::string>&, const std::string&, int64_t, bool) { unavailable(); }

#endif  // ZOO_WITH_SENTENCEPIECE

}  // namespace zoo::text
