#include "lib/text/sentencepiece.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <mutex>
#include <unordered_map>

#include "lib/core/error.h"
#include "lib/text/utf8.h"

namespace zoo::text {

namespace {

constexpr const char* kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The plug-in's functions (lib/text/plugin/sentencepiece_plugin.cpp), resolved once.
struct Plugin {
  using Args = std::unordered_map<std::string, std::string>;
  void (*train)(const std::vector<std::string>*, const Args*, std::string* proto, std::string* error) = nullptr;
  void (*load)(const std::string* proto, void** processor, std::string* error) = nullptr;
  void (*free)(void* processor) = nullptr;
  void (*encode)(const void*, const std::string*, std::vector<std::string>*, std::string* error) = nullptr;
  void (*decode)(const void*, const std::vector<std::string>*, std::string*, std::string* error) = nullptr;
  void (*scores)(const void*, std::vector<float>*) = nullptr;
  std::string problem;  // why it could not be loaded, or ""
};

std::vector<std::string> plugin_candidates() {
  constexpr const char* kName = "libzoo_sentencepiece.so";
  std::vector<std::string> paths;
  if (const char* env = std::getenv("ZOO_SENTENCEPIECE_LIB"); env && *env) paths.push_back(env);
  std::error_code ec;
  const auto exe_dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  if (!ec)  // zoo sits beside it in the build folder, the test programs one folder down
    for (const auto& dir : {exe_dir, exe_dir.parent_path(), exe_dir.parent_path() / "lib"}) paths.push_back((dir / kName).string());
  return paths;
}

const Plugin& plugin() {
  static Plugin api;
  static std::once_flag once;
  std::call_once(once, [] {
    void* handle = nullptr;
    std::string tried;
    for (const auto& path : plugin_candidates()) {
      if (!std::filesystem::exists(path)) {
        tried += (tried.empty() ? "" : ", ") + path;
        continue;
      }
      // RTLD_DEEPBIND: the plug-in's protobuf symbols resolve to its own copy, not LibTorch's.
      // AddressSanitizer refuses it; the sanitizer builds (fuzz targets) hold no LibTorch, so
      // there is no second protobuf to avoid.
#if defined(ZOO_NO_DEEPBIND)
      handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
#else
      handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
#endif
      if (!handle) {
        api.problem = "cannot load " + path + ": " + dlerror();
        return;
      }
      break;
    }
    if (!handle) {
      api.problem = "the bpe and unigram tokenizers need libzoo_sentencepiece.so, built when libsentencepiece-dev is installed "
                    "(not found at " + tried + "; ZOO_SENTENCEPIECE_LIB names another place); --set tokenizer=word|char work without it";
      return;
    }
    auto resolve = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, name));
      if (!fn && api.problem.empty()) api.problem = std::string("libzoo_sentencepiece.so lacks ") + name + " (a stale build?)";
    };
    resolve(api.train, "zoo_spm_train");
    resolve(api.load, "zoo_spm_load");
    resolve(api.free, "zoo_spm_free");
    resolve(api.encode, "zoo_spm_encode");
    resolve(api.decode, "zoo_spm_decode");
    resolve(api.scores, "zoo_spm_scores");
  });
  if (!api.problem.empty()) throw UsageError(api.problem);
  return api;
}


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

bool sentencepiece_available() {
  try {
    plugin();
    return true;
  } catch (const UsageError&) {
    return false;
  }
}

SentencePieceTokenizer::SentencePieceTokenizer(std::string model_proto, bool lowercase)
    : model_proto_(std::move(model_proto)), lowercase_(lowercase) {
  const Plugin& api = plugin();
  void* processor = nullptr;
  std::string error;
  api.load(&model_proto_, &processor, &error);
  if (!error.empty()) throw Error("tokenizer: cannot load the SentencePiece model: " + error);
  processor_ = std::shared_ptr<void>(processor, api.free);
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<std::string> SentencePieceTokenizer::tokenize(std::string_view text) const {
  require_utf8(text);
  const std::string input = lowercase_ ? lowercase(text) : std::string(text);
  std::vector<std::string> pieces;
  std::string error;
  plugin().encode(processor_.get(), &input, &pieces, &error);
  if (!error.empty()) throw Error("SentencePiece: " + error);
  return pieces;
}

std::string SentencePieceTokenizer::detokenize(const std::vector<std::string>& tokens) const {
  std::string out, error;
  plugin().decode(processor_.get(), &tokens, &out, &error);
  if (!error.empty()) throw Error("SentencePiece: " + error);
  return out;
}

std::string SentencePieceTokenizer::model_type() const {
  // The trainer spec is inside the proto; the processor does not expose it, so ask by piece
  // scores: BPE scores are minus the merge rank (integers), unigram scores log-probabilities.
  std::vector<float> scores;
  plugin().scores(processor_.get(), &scores);
  for (const float score : scores)
    if (score != static_cast<float>(static_cast<int64_t>(score))) return "unigram";
  return "bpe";
}

Json SentencePieceTokenizer::to_json() const {
  return {{"kind", "sentencepiece"}, {"lowercase", lowercase_}, {"model", base64_encode(model_proto_)}};
}

std::string train_sentencepiece(const std::vector<std::string>& sentences, const std::string& model_type, int64_t vocab_size,
                                bool lowercase) {
  if (model_type != "bpe" && model_type != "unigram") throw UsageError("invalid SentencePiece model type '" + model_type + "': expected bpe or unigram");
  if (vocab_size < 8) throw UsageError("invalid vocab_size " + std::to_string(vocab_size) + ": expected at least 8");
  const Plugin& api = plugin();
  std::vector<std::string> input;
  input.reserve(sentences.size());
  for (const auto& s : sentences) input.push_back(lowercase ? text::lowercase(s) : s);
  // Our Vocab adds <pad> <unk> <bos> <eos> itself; SentencePiece keeps its <unk> (id 0) only.
  // hard_vocab_limit=false lets a small corpus yield fewer pieces instead of failing.
  const Plugin::Args args{
      {"model_type", model_type},         {"vocab_size", std::to_string(vocab_size)},
      {"character_coverage", "1.0"},      {"bos_id", "-1"},
      {"eos_id", "-1"},                   {"pad_id", "-1"},
      {"unk_id", "0"},                    {"hard_vocab_limit", "false"},
      {"num_threads", "1"},               {"minloglevel", "2"},
      {"input_sentence_size", "2000000"}, {"shuffle_input_sentence", "false"}};
  std::string proto, error;
  api.train(&input, &args, &proto, &error);
  if (!error.empty()) throw Error("SentencePiece training failed: " + error);
  return proto;
}

}  // namespace zoo::text
