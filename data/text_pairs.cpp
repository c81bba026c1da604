#include "data/text_pairs.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>

#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/core/random.h"
#include "lib/text/utf8.h"

namespace fs = std::filesystem;

namespace zoo::data {

namespace {

constexpr const char* kSynthPrefix = "synth:";

bool exists_file(const fs::path& p) { return fs::is_regular_file(p); }

// PATH or PATH.gz, whichever exists ("" if neither).
std::string plain_or_gz(const std::string& path) {
  if (exists_file(path)) return path;
  if (exists_file(path + ".gz")) return path + ".gz";
  return "";
}

// Drops pairs with an empty side (they teach nothing and break length statistics), counting them.
void add_pair(SentencePairs& pairs, std::string source, std::string target, std::string origin) {
  const bool empty = text::split_whitespace(source).empty() || text::split_whitespace(target).empty();
  if (empty) {
    ++pairs.skipped_empty;
    return;
  }
  pairs.source.push_back(std::move(source));
  pairs.target.push_back(std::move(target));
  pairs.origin.push_back(std::move(origin));
}

// The held-out tail of a single corpus: "train" keeps the head, "val"/"test" the tail.
SentencePairs hold_out(SentencePairs all, const std::string& split, double val_fraction, const std::string& name) {
  const int64_t n = all.size();
  if (n < 2) throw Error(name + " holds fewer than 2 sentence pairs; nothing to hold out for validation");
  const int64_t held = std::clamp<int64_t>(static_cast<int64_t>(val_fraction * n), 1, n - 1);
  const int64_t begin = split == "train" ? 0 : n - held, end = split == "train" ? n - held : n;
  SentencePairs out;
  out.skipped_empty = all.skipped_empty;
  for (int64_t i = begin; i < end; ++i) {
    out.source.push_back(std::move(all.source[i]));
    out.target.push_back(std::move(all.target[i]));
    out.origin.push_back(std::move(all.origin[i]));
  }
  return out;
}

// SPLIT names in a folder: train, val (or valid/dev), test (first test*), or an exact file set.
std::string folder_split_prefix(const fs::path& root, const std::string& split, const std::string& src) {
  auto has = [&](const std::string& name) { return !plain_or_gz((root / (name + "." + src)).string()).empty(); };
  if (has(split)) return split;
  std::vector<std::string> candidates;
  if (split == "val") candidates = {"valid", "dev", "test"};
  if (split == "test") {
    std::vector<std::string> tests;
    for (const auto& entry : fs::directory_iterator(root)) {
      const std::string name = entry.path().filename().string();
      const std::string suffix = "." + src;
      for (const std::string& ending : {suffix, suffix + ".gz"})
        if (name.rfind("test", 0) == 0 && name.size() > ending.size() && name.compare(name.size() - ending.size(), ending.size(), ending) == 0)
          tests.push_back(name.substr(0, name.size() - ending.size()));
    }
    std::sort(tests.begin(), tests.end());
    candidates.insert(candidates.end(), tests.begin(), tests.end());
    candidates.push_back("val");
  }
  for (const auto& c : candidates)
    if (has(c)) return c;
  throw Error("no '" + split + "' split in " + root.string() + " (expected " + (root / (split + "." + src)).string() + "[.gz])");
}

// --- synth:dates ---

const std::array<const char*, 12> kMonths{"January", "February", "March",     "April",   "May",      "June",
                                          "July",    "August",   "September", "October", "November", "December"};
const std::array<const char*, 7> kWeekdays{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int days_in_month(int y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}
// 0 = Monday (Sakamoto's method gives 0 = Sunday).
int weekday(int y, int m, int d) {
  static const int t[] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
  if (m < 3) y -= 1;
  const int sunday_based = (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
  return (sunday_based + 6) % 7;
}
std::string ordinal(int d) {
  const char* suffix = (d % 100 >= 11 && d % 100 <= 13) ? "th" : d % 10 == 1 ? "st" : d % 10 == 2 ? "nd" : d % 10 == 3 ? "rd" : "th";
  return std::to_string(d) + suffix;
}
std::string two(int v) { return (v < 10 ? "0" : "") + std::to_string(v); }
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string human_date(int y, int m, int d, uint64_t format) {
  const std::string month = kMonths[m - 1], mon = month.substr(0, 3), day = kWeekdays[weekday(y, m, d)];
  const std::string yy = two(y % 100), yyyy = std::to_string(y);
  switch (format) {
    case 0: return std::to_string(d) + " " + month + " " + yyyy;                       // 3 March 2021
    case 1: return month + " " + std::to_string(d) + ", " + yyyy;                      // March 3, 2021
    case 2: return two(m) + "/" + two(d) + "/" + yy;                                   // 03/03/21 (US)
    case 3: return two(d) + "." + two(m) + "." + yyyy;                                 // 03.03.2021
    case 4: return day + ", " + month + " " + ordinal(d) + " " + yyyy;                 // Wednesday, March 3rd 2021
    case 5: return ordinal(d) + " of " + month + " " + yyyy;                           // 3rd of March 2021
    case 6: return mon + " " + std::to_string(d) + " " + yyyy;                         // Mar 3 2021
    case 7: return std::to_string(d) + " " + mon + " " + yy;                           // 3 Mar 21
    case 8: return lower(day.substr(0, 3)) + " " + std::to_string(d) + " " + lower(mon) + " " + yyyy;  // wed 3 mar 2021
    case 9: return lower(month) + " " + ordinal(d) + ", " + yyyy;                      // march 3rd, 2021
    case 10: return yyyy + "/" + std::to_string(m) + "/" + std::to_string(d);         // 2021/3/3
    default: return day.substr(0, 3) + " " + two(d) + " " + mon + " " + yyyy;         // Wed 03 Mar 2021
  }
}
constexpr uint64_t kDateFormats = 12;

}  // namespace

std::vector<std::string> read_text_lines(const std::string& path) {
  if (!exists_file(path)) throw Error("text file not found: " + path);
  const std::string content = read_maybe_gzip(path);

  std::vector<std::string> lines;
  size_t start = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    std::string line = content.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t bad = text::find_invalid_utf8(line);
    if (bad != std::string::npos)
      throw Error(path + ":" + std::to_string(lines.size() + 1) + ": invalid UTF-8 at byte " + std::to_string(bad) + " of the line");
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

SentencePairs read_parallel_files(const std::string& source_path, const std::string& target_path) {
  auto source = read_text_lines(source_path), target = read_text_lines(target_path);
  if (source.size() != target.size())
    throw Error("parallel files differ in length: " + source_path + " has " + std::to_string(source.size()) + " lines, " +
                target_path + " has " + std::to_string(target.size()));
  SentencePairs pairs;
  for (size_t i = 0; i < source.size(); ++i)
    add_pair(pairs, std::move(source[i]), std::move(target[i]), source_path + ":" + std::to_string(i + 1));
  return pairs;
}

SentencePairs read_tsv(const std::string& path) {
  SentencePairs pairs;
  const auto lines = read_text_lines(path);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty()) continue;
    const size_t tab = line.find('\t');
    if (tab == std::string::npos || line.find('\t', tab + 1) != std::string::npos)
      throw Error(path + ":" + std::to_string(i + 1) + ": expected source<TAB>target (exactly one tab)");
    add_pair(pairs, line.substr(0, tab), line.substr(tab + 1), path + ":" + std::to_string(i + 1));
  }
  return pairs;
}

SentencePairs load_pairs(const std::string& data, const std::string& split, const std::string& src, const std::string& tgt,
                         double val_fraction, int64_t synth_size, uint64_t seed) {
  if (data.rfind(kSynthPrefix, 0) == 0) {
    if (data != "synth:dates") throw UsageError("unknown synthetic data set '" + data + "' for task translate; expected synth:dates");
    if (split != "train" && split != "val" && split != "test")
      throw UsageError("invalid --split '" + split + "' for synth:dates: expected train, val or test");
    // Three disjoint seed streams, as synth:shapes does.
    if (split == "train") return synth_dates(synth_size, mix_seed(seed, 21));
    return synth_dates(std::max<int64_t>(64, synth_size / 4), mix_seed(seed, split == "val" ? 22 : 23));
  }
  const bool tsv = exists_file(data);
  if (fs::is_directory(data)) {
    if (src.empty() || tgt.empty()) throw UsageError("--data " + data + " is a folder of parallel files: give --src and --tgt (e.g. --src de --tgt en)");
    const std::string prefix = folder_split_prefix(data, split, src);
    const std::string source = plain_or_gz((fs::path(data) / (prefix + "." + src)).string());
    const std::string target = plain_or_gz((fs::path(data) / (prefix + "." + tgt)).string());
    if (target.empty()) throw Error("no target file for split '" + prefix + "': " + (fs::path(data) / (prefix + "." + tgt)).string() + "[.gz] not found");
    return read_parallel_files(source, target);
  }
  if (split != "train" && split != "val" && split != "test")
    throw UsageError("invalid --split '" + split + "': expected train, val or test");
  if (tsv) return hold_out(read_tsv(data), split, val_fraction, data);
  if (src.empty() || tgt.empty()) throw UsageError("--data " + data + " is not a file or folder; for PREFIX.SRC / PREFIX.TGT files give --src and --tgt");
  const std::string source = plain_or_gz(data + "." + src), target = plain_or_gz(data + "." + tgt);
  if (source.empty()) throw Error("data not found: " + data + " (no " + data + "." + src + "[.gz], and it is not a TSV file or a folder)");
  if (target.empty()) throw Error("data not found: " + data + "." + tgt + "[.gz]");
  return hold_out(read_parallel_files(source, target), split, val_fraction, data);
}

SentencePairs synth_dates(int64_t n, uint64_t seed) {
  SentencePairs pairs;
  Rng rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    const int y = 1900 + static_cast<int>(rng.next_u64() % 200);
    const int m = 1 + static_cast<int>(rng.next_u64() % 12);
    const int d = 1 + static_cast<int>(rng.next_u64() % days_in_month(y, m));
    const uint64_t format = rng.next_u64() % kDateFormats;
    pairs.source.push_back(human_date(y, m, d, format));
    pairs.target.push_back(std::to_string(y) + "-" + two(m) + "-" + two(d));
    pairs.origin.push_back("synth:dates#" + std::to_string(i));
  }
  return pairs;
}

void write_parallel_files(const SentencePairs& pairs, const std::string& prefix, const std::string& src, const std::string& tgt) {
  if (!fs::path(prefix).parent_path().empty()) fs::create_directories(fs::path(prefix).parent_path());
  for (const auto& [lines, lang] : {std::pair{&pairs.source, src}, std::pair{&pairs.target, tgt}}) {
    const std::string path = prefix + "." + lang;
    std::ofstream out(path, std::ios::binary);
    for (const auto& line : *lines) out << line << '\n';
    out.flush();
    if (!out) throw Error("cannot write " + path);
  }
}

}  // namespace zoo::data
