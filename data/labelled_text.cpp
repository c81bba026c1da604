#include "data/labelled_text.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "data/line_labels.h"
#include "data/play_speeches.h"
#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/core/random.h"

namespace fs = std::filesystem;

namespace zoo::data {

namespace {

constexpr const char* kSpeakers = "speakers:";

// Whether item `key` (a line, a speech) is held out: a seeded hash below val_fraction.
bool held_out(uint64_t seed, int64_t key, double val_fraction) {
  return static_cast<double>(mix_seed(seed, 91, static_cast<uint64_t>(key)) >> 11) * 0x1.0p-53 < val_fraction;
}

bool wanted(bool held, const std::string& split) { return held == (split != "train"); }

void require_nonempty(const LabelledText& part, const std::string& split, const std::string& source) {
  if (part.texts.empty()) throw Error(source + ": its " + split + " part holds no text (lower or raise --val-fraction, or give more lines)");
}

LabelledText read_tsv(const std::string& path, const std::string& split, double val_fraction, uint64_t seed, bool whole_file) {
  LabelledText out;
  for (const auto& pair : parse_tab_pairs(read_file(path), path, TabColumns{"text", "label", true})) {
    if (!whole_file && !wanted(held_out(seed, pair.line, val_fraction), split)) continue;
    out.texts.push_back(pair.first), out.labels.push_back(pair.second), out.origins.push_back(path + ":" + std::to_string(pair.line));
  }
  require_nonempty(out, split, path);
  return out;
}

LabelledText read_play(const std::string& path, const std::string& split, double val_fraction, uint64_t seed) {
  const auto lines = parse_play(read_file(path), path);
  const auto speakers = top_speakers(lines, kPlaySpeakers);
  const std::set<std::string> kept(speakers.begin(), speakers.end());
  LabelledText out;
  for (const auto& line : lines) {
    if (!kept.count(line.speaker) || !wanted(held_out(seed, line.speech, val_fraction), split)) continue;
    out.texts.push_back(line.text), out.labels.push_back(line.speaker), out.origins.push_back(path + ":" + std::to_string(line.line));
  }
  require_nonempty(out, split, path);
  return out;
}

}  // namespace

LabelledText synth_topics(int64_t n, uint64_t seed) {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> topics{
      {"animals", {"dog", "cat", "horse", "bird", "fox", "wolf", "cow", "sheep", "rabbit", "mouse", "owl", "bear", "deer", "goat", "duck"}},
      {"food", {"bread", "cheese", "apple", "soup", "rice", "butter", "cake", "pear", "honey", "salt", "milk", "egg", "bean", "plum", "pie"}},
      {"weather", {"rain", "snow", "wind", "storm", "cloud", "sun", "fog", "frost", "thunder", "hail", "mist", "heat", "ice", "breeze", "sky"}},
      {"sports", {"ball", "goal", "race", "team", "match", "coach", "score", "bat", "net", "club", "runner", "swim", "kick", "game", "medal"}}};
  static const std::vector<std::string> common{"the",  "a",     "we",   "they", "saw",  "liked", "after", "before", "near",  "with",
                                               "some", "every", "day",  "big",  "small", "old",  "new",   "and",    "then",  "again",
                                               "was",  "is",    "very", "our",  "their", "in",   "on",    "today",  "later", "all"};
  Rng rng(seed);
  LabelledText out;
  for (int64_t i = 0; i < n; ++i) {
    const auto& [label, words] = topics[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(topics.size())))];
    const int64_t length = rng.randint(6, 13);
    std::string text;
    for (int64_t w = 0; w < length; ++w) {
      const std::string& word = rng.bernoulli(1.0 / 3.0) ? words[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(words.size())))]
                                                         : common[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(common.size())))];
      text += (text.empty() ? "" : " ") + word;
    }
    out.texts.push_back(text), out.labels.push_back(label), out.origins.push_back("synth:topics:" + std::to_string(i + 1));
  }
  return out;
}

LabelledText load_labelled_text(const std::string& data, const std::string& split, double val_fraction, int64_t synth_size, uint64_t seed) {
  if (split != "train" && split != "val" && split != "test") throw UsageError("invalid split '" + split + "': expected train, val or test");
  if (data == "synth:topics") {
    if (split == "train") return synth_topics(synth_size, mix_seed(seed, 92));
    return synth_topics(std::max<int64_t>(64, synth_size / 4), mix_seed(seed, split == "val" ? 93 : 94));
  }
  if (data.rfind(kSpeakers, 0) == 0) {
    const std::string path = data.substr(std::string(kSpeakers).size());
    if (path.empty()) throw UsageError("--data speakers: names no play: give speakers:PLAY.txt");
    return read_play(path, split, val_fraction, seed);
  }
  if (fs::is_directory(data)) {
    // train.tsv, val.tsv (or dev.tsv, GLUE's name), test.tsv
    std::vector<std::string> names{split + ".tsv"};
    if (split == "val") names.push_back("dev.tsv");
    for (const auto& name : names)
      if (fs::exists(fs::path(data) / name)) return read_tsv((fs::path(data) / name).string(), split, val_fraction, seed, true);
    throw Error(data + ": no " + names.front() + (split == "val" ? " (or dev.tsv)" : "") + " in this folder");
  }
  return read_tsv(data, split, val_fraction, seed, false);
}

}  // namespace zoo::data
