#include "data/text_corpus.h"

#include <algorithm>
#include <filesystem>

#include "data/text_pairs.h"
#include "lib/core/error.h"
#include "lib/core/random.h"
#include "lib/text/utf8.h"

namespace fs = std::filesystem;

namespace zoo::data {

namespace {

constexpr const char* kAdditions = "synth:additions";

int64_t code_points(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The byte offset of code point `index` in valid UTF-8 `s` (s.size() past the end).
size_t byte_of_code_point(const std::string& s, int64_t index) {
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && index-- == 0) return i;
  return s.size();
}

void append_file(TextCorpus& corpus, const std::string& path) {
  const auto file = static_cast<int32_t>(corpus.files.size());
  corpus.files.push_back(path);
  auto lines = read_text_lines(path);
  for (size_t i = 0; i < lines.size(); ++i) {
    corpus.lines.push_back(std::move(lines[i]));
    corpus.origins.push_back({file, static_cast<int64_t>(i + 1)});
  }
}

}  // namespace

std::string TextCorpus::origin(size_t line) const {
  if (line >= origins.size()) return "line " + std::to_string(line + 1);
  return files.at(static_cast<size_t>(origins[line].file)) + ":" + std::to_string(origins[line].line);
}

int64_t TextCorpus::characters() const {
  int64_t n = 0;
  for (const auto& line : lines) n += code_points(line) + 1;
  return n;
}

TextCorpus read_text_corpus(const std::string& path) {
  TextCorpus corpus;
  if (fs::is_directory(path)) {
    std::vector<std::string> files;
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::follow_directory_symlink); it != fs::recursive_directory_iterator(); ++it) {
      const std::string name = it->path().filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) files.push_back(it->path().string());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) throw Error("no text files in " + path);
    for (const auto& file : files) append_file(corpus, file);
  } else if (fs::is_regular_file(path)) {
    append_file(corpus, path);
  } else {
    throw Error("data not found: " + path + " (expected a UTF-8 text file or a folder of them)");
  }
  if (corpus.characters() <= static_cast<int64_t>(corpus.lines.size()))
    throw Error(path + " holds no text (" + std::to_string(corpus.lines.size()) + " empty lines)");
  return corpus;
}

TextCorpus split_corpus(const TextCorpus& corpus, const std::string& split, double val_fraction, const std::string& name) {
  if (split != "train" && split != "val" && split != "test") throw UsageError("invalid --split '" + split + "': expected train, val or test");
  const int64_t total = corpus.characters();
  const auto cut_char = static_cast<int64_t>(static_cast<double>(total) * (1.0 - val_fraction));
  // The line holding character cut_char, and the cut's code point within it.
  size_t line = 0;
  int64_t seen = 0;
  while (line < corpus.lines.size() && seen + code_points(corpus.lines[line]) + 1 <= cut_char) seen += code_points(corpus.lines[line++]) + 1;
  size_t cut_line = line, cut_byte = 0;  // train: lines [0, cut_line) + lines[cut_line][0, cut_byte)
  if (line < corpus.lines.size() && seen < cut_char) {
    if (line + 1 < corpus.lines.size()) {
      cut_line = line + 1;  // forward to the next line start
    } else {
      cut_byte = byte_of_code_point(corpus.lines[line], cut_char - seen);  // inside the last line
    }
  }
  TextCorpus out;
  out.files = corpus.files;
  auto add = [&](size_t i, std::string text) {
    out.lines.push_back(std::move(text));
    out.origins.push_back(corpus.origins[i]);
  };
  if (split == "train") {
    for (size_t i = 0; i < cut_line; ++i) add(i, corpus.lines[i]);
    if (cut_byte > 0) add(cut_line, corpus.lines[cut_line].substr(0, cut_byte));
  } else {
    for (size_t i = cut_line; i < corpus.lines.size(); ++i) add(i, i == cut_line ? corpus.lines[i].substr(cut_byte) : corpus.lines[i]);
  }
  if (out.lines.empty() || out.characters() <= static_cast<int64_t>(out.lines.size()))
    throw Error(name + " is too short to hold out " + std::to_string(val_fraction) + " of it for validation: the " + split + " part is empty");
  return out;
}

TextCorpus synth_additions(int64_t n, int digits, uint64_t seed) {
  TextCorpus corpus;
  corpus.files = {kAdditions};
  Rng rng(seed);
  int64_t limit = 1;
  for (int i = 0; i < digits; ++i) limit *= 10;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t a = rng.randint(0, limit), b = rng.randint(0, limit);
    corpus.lines.push_back(std::to_string(a) + "+" + std::to_string(b) + "=" + std::to_string(a + b));
    corpus.origins.push_back({0, i + 1});
  }
  return corpus;
}

TextCorpus load_text(const std::string& data, const std::string& split, double val_fraction, int64_t synth_size, uint64_t seed) {
  if (data.rfind("synth:", 0) == 0) {
    if (data != kAdditions) throw UsageError("unknown synthetic text '" + data + "': expected synth:additions");
    if (split == "train") return synth_additions(synth_size, 2, mix_seed(seed, 41));
    if (split != "val" && split != "test") throw UsageError("invalid --split '" + split + "': expected train, val or test");
    return synth_additions(std::max<int64_t>(64, synth_size / 4), 2, mix_seed(seed, split == "val" ? 42 : 43));
  }
  return split_corpus(read_text_corpus(data), split, val_fraction, data);
}

}  // namespace zoo::data
