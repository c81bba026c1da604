#include "data/text_lines.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/imgproc.hpp>
#include <set>

#include "data/datasets.h"
#include "data/image.h"
#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/core/random.h"
#include "lib/text/utf8.h"
#include "lib/viz/text.h"

namespace fs = std::filesystem;

namespace zoo::data {

LineFolder::LineFolder(const std::string& dir) : dir_(dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error("line folder not found: " + dir + " (expected a folder of line images with labels.tsv)");
  const std::string tsv = (fs::path(dir) / "labels.tsv").string();
  if (!fs::is_regular_file(tsv, ec)) throw Error("no labels.tsv in " + dir + " (expected file<TAB>text per line image)");
  labels_ = parse_line_labels(read_file(tsv), tsv);
}

cv::Mat LineFolder::image(int64_t index) const {
  const auto& label = labels_.at(static_cast<size_t>(index));
  const fs::path file(label.file);
  return read_image((file.is_absolute() ? file : fs::path(dir_) / file).string());
}

std::string LineFolder::describe(int64_t index) const {
  const auto& label = labels_.at(static_cast<size_t>(index));
  return (fs::path(dir_) / "labels.tsv").string() + ":" + std::to_string(label.line) + " (" + label.file + ")";
}

std::shared_ptr<LineDataset> open_line_folder_split(const std::string& path, const std::string& split, double val_fraction) {
  const std::string folder = split_tree_folder(path, split, "a folder of line images with labels.tsv");
  if (!folder.empty()) return std::make_shared<LineFolder>(folder);
  auto all = std::make_shared<LineFolder>(path);
  return std::make_shared<LineSubset>(all, held_out_split(all->size(), split, val_fraction));
}

namespace {

// Common English words (and a few with an apostrophe) that synth:lines draws from.
const std::vector<std::string>& word_list() {
  static const std::vector<std::string> words{
      "the",    "of",     "and",    "to",     "in",     "is",     "you",    "that",   "it",     "he",     "was",    "for",    "on",
      "are",    "as",     "with",   "his",    "they",   "at",     "be",     "this",   "have",   "from",   "or",     "one",    "had",
      "by",     "word",   "but",    "not",    "what",   "all",    "were",   "we",     "when",   "your",   "can",    "said",   "there",
      "use",    "an",     "each",   "which",  "she",    "do",     "how",    "their",  "if",     "will",   "up",     "other",  "about",
      "out",    "many",   "then",   "them",   "these",  "so",     "some",   "her",    "would",  "make",   "like",   "him",    "into",
      "time",   "has",    "look",   "two",    "more",   "write",  "go",     "see",    "number", "no",     "way",    "could",  "people",
      "my",     "than",   "first",  "water",  "been",   "call",   "who",    "oil",    "its",    "now",    "find",   "long",   "down",
      "day",    "did",    "get",    "come",   "made",   "may",    "part",   "over",   "new",    "sound",  "take",   "only",   "little",
      "work",   "know",   "place",  "year",   "live",   "me",     "back",   "give",   "most",   "very",   "after",  "thing",  "our",
      "just",   "name",   "good",   "sentence", "man",  "think",  "say",    "great",  "where",  "help",   "through", "much",  "before",
      "line",   "right",  "too",    "mean",   "old",    "any",    "same",   "tell",   "boy",    "follow", "came",   "want",   "show",
      "also",   "around", "form",   "three",  "small",  "set",    "put",    "end",    "does",   "another", "well",  "large",  "must",
      "big",    "even",   "such",   "because", "turn",  "here",   "why",    "ask",    "went",   "men",    "read",   "need",   "land",
      "quick",  "brown",  "fox",    "jumps",  "lazy",   "dog",    "zoo",    "queen",  "jazz",   "vex",    "glyph",  "kiwi",   "yacht",
      "don't",  "it's",   "o'clock"};
  return words;
}

std::string capitalised(std::string word, int style) {
  // style 0: as listed (lower case), 1: Capitalised, 2: UPPER CASE.
  if (style == 1 && !word.empty()) word[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(word[0])));
  if (style == 2)
    for (auto& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return word;
}

// A number as people write them: 7, 0451, -12, 3.14, 12,500.
std::string random_number(Rng& rng) {
  const int64_t digits = rng.randint(1, 8);
  std::string number;
  for (int64_t d = 0; d < digits; ++d) number.push_back(static_cast<char>('0' + rng.randint(0, 10)));
  const double kind = rng.uniform();
  if (kind < 0.15 && digits >= 2) {
    number.insert(static_cast<size_t>(rng.randint(1, digits)), ".");
  } else if (kind < 0.3 && digits >= 4) {
    for (int64_t at = digits - 3; at > 0; at -= 3) number.insert(static_cast<size_t>(at), ",");
  }
  if (rng.bernoulli(0.1)) number.insert(0, "-");
  return number;
}

std::string random_line(Rng& rng) {
  const double count_draw = rng.uniform();
  const int tokens = count_draw < 0.4 ? 1 : count_draw < 0.8 ? 2 : 3;
  std::string line;
  for (int t = 0; t < tokens; ++t) {
    if (t) line.push_back(' ');
    if (rng.bernoulli(0.75)) {
      const auto& words = word_list();
      const double style = rng.uniform();
      line += capitalised(words[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(words.size())))], style < 0.6 ? 0 : style < 0.9 ? 1 : 2);
      if (t + 1 < tokens && rng.bernoulli(0.1)) line.push_back(',');
      if (t + 1 == tokens && rng.bernoulli(0.1)) line.push_back('.');
    } else {
      line += random_number(rng);
    }
  }
  return line;
}

const std::vector<std::string>& font_files() {
  // fonts-dejavu-core's six faces (scripts/setup.sh installs it).
  static const std::vector<std::string> fonts{"DejaVuSans.ttf",      "DejaVuSans-Bold.ttf",     "DejaVuSerif.ttf",
                                              "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"};
  return fonts;
}

// A FreeType face per font and size and thread: the loader's workers render at once, and a face
// is not safe to share.
const viz::TextRenderer& renderer(const std::string& font, int pixel_size) {
  thread_local std::map<std::pair<std::string, int>, std::unique_ptr<viz::TextRenderer>> cache;
  auto& slot = cache[{font, pixel_size}];
  if (!slot) {
    const char* dir = std::getenv("ZOO_FONT_DIR");
    slot = std::make_unique<viz::TextRenderer>(pixel_size, (fs::path(dir ? dir : "/usr/share/fonts/truetype/dejavu") / font).string());
  }
  return *slot;
}

}  // namespace

SynthLines::SynthLines(int64_t size, int height, uint64_t seed) : size_(size), height_(height), seed_(seed) {
  if (size < 1) throw UsageError("synth:lines needs at least one line");
  if (height < 8) throw UsageError("synth:lines lines must be at least 8 pixels high, got " + std::to_string(height));
  texts_.reserve(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i) {
    Rng rng(mix_seed(seed, static_cast<uint64_t>(i), 0));
    texts_.push_back(random_line(rng));
  }
}

const std::string& SynthLines::alphabet() {
  static const std::string chars = [] {
    std::set<char> used{' ', ',', '.', '-'};
    for (char c = '0'; c <= '9'; ++c) used.insert(c);
    for (const auto& word : word_list())
      for (char c : word) used.insert(c), used.insert(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    return std::string(used.begin(), used.end());
  }();
  return chars;
}

cv::Mat SynthLines::image(int64_t index) const {
  const std::string& line = text(index);
  Rng rng(mix_seed(seed_, static_cast<uint64_t>(index), 1));
  const auto& fonts = font_files();
  const std::string& font = fonts[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(fonts.size())))];
  const cv::Mat ink = renderer(font, static_cast<int>(rng.randint(18, 31))).render(line);  // coverage, 255 = ink
  // Margins, then the slant: x' = x + shear (y_middle - y), so a positive shear leans right.
  const double shear = rng.uniform(-0.3, 0.3);
  const int lean = static_cast<int>(std::ceil(std::abs(shear) * ink.rows / 2.0));
  const int left = static_cast<int>(rng.randint(2, 10)) + lean, right = static_cast<int>(rng.randint(2, 10)) + lean;
  const int top = static_cast<int>(rng.randint(1, 6)), bottom = static_cast<int>(rng.randint(1, 6));
  cv::Mat coverage = cv::Mat::zeros(ink.rows + top + bottom, ink.cols + left + right, CV_8UC1);
  ink.copyTo(coverage(cv::Rect(left, top, ink.cols, ink.rows)));
  const double middle = coverage.rows / 2.0;
  const cv::Mat slant = (cv::Mat_<double>(2, 3) << 1, -shear, shear * middle, 0, 1, 0);
  cv::warpAffine(coverage, coverage, slant, coverage.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0));
  // Dark ink on a light background, each of random colour: pixel = background + (ink - background) coverage.
  cv::Vec3d background, colour;
  for (int c = 0; c < 3; ++c) background[c] = rng.uniform(150, 255), colour[c] = rng.uniform(0, 90);
  const double blur = rng.uniform(0, 1.2), noise = rng.uniform(0, 12);
  cv::Mat alpha;
  coverage.convertTo(alpha, CV_32F, 1.0 / 255);
  if (blur > 0.3) cv::GaussianBlur(alpha, alpha, cv::Size(0, 0), blur);
  cv::Mat rgb(alpha.size(), CV_8UC3);
  for (int y = 0; y < rgb.rows; ++y)
    for (int x = 0; x < rgb.cols; ++x) {
      const double a = alpha.at<float>(y, x), grain = noise * rng.normal();
      auto& pixel = rgb.at<cv::Vec3b>(y, x);
      for (int c = 0; c < 3; ++c) pixel[c] = cv::saturate_cast<uint8_t>(background[c] + (colour[c] - background[c]) * a + grain);
    }
  // Scaled to the set's height; the width keeps the aspect ratio.
  const int width = std::max(1, static_cast<int>(std::lround(rgb.cols * static_cast<double>(height_) / rgb.rows)));
  cv::Mat scaled;
  cv::resize(rgb, scaled, cv::Size(width, height_), 0, 0, cv::INTER_AREA);
  return scaled;
}

std::shared_ptr<LineDataset> synth_lines_split(int64_t size, int height, uint64_t seed, const std::string& split) {
  if (split == "train") return std::make_shared<SynthLines>(size, height, mix_seed(seed, 31));
  const int64_t held_out = std::max<int64_t>(64, size / 4);
  return std::make_shared<SynthLines>(held_out, height, mix_seed(seed, split == "val" ? 32 : 33));
}

LineAlphabet::LineAlphabet(const std::string& chars) : chars_(chars), code_points_(text::decode_utf8(chars)) {
  if (!std::is_sorted(code_points_.begin(), code_points_.end()) || std::adjacent_find(code_points_.begin(), code_points_.end()) != code_points_.end())
    throw Error("an alphabet holds each character once, in code-point order");
}

LineAlphabet LineAlphabet::of_texts(const std::vector<std::string>& texts) {
  std::set<char32_t> used;
  for (const auto& t : texts)
    for (char32_t c : text::decode_utf8(t)) used.insert(c);
  return LineAlphabet(text::encode_utf8(std::vector<char32_t>(used.begin(), used.end())));
}

std::vector<int64_t> LineAlphabet::encode(const std::string& line, int64_t* unknown) const {
  std::vector<int64_t> labels;
  for (char32_t c : text::decode_utf8(line)) {
    const auto at = std::lower_bound(code_points_.begin(), code_points_.end(), c);
    if (at != code_points_.end() && *at == c) labels.push_back(static_cast<int64_t>(at - code_points_.begin()) + 1);
    else if (unknown) ++*unknown;
  }
  return labels;
}

std::string LineAlphabet::decode(const std::vector<int64_t>& labels) const {
  std::vector<char32_t> out;
  for (int64_t label : labels)
    if (label >= 1 && label <= static_cast<int64_t>(code_points_.size())) out.push_back(code_points_[static_cast<size_t>(label - 1)]);
  return text::encode_utf8(out);
}

const OptionSchema<LinePreprocess>& LinePreprocess::options() {
  static const auto schema = OptionSchema<LinePreprocess>("line preprocessing")
                                 .option("height", &LinePreprocess::height, at_least(8), "line images are scaled to this height (pixels)")
                                 .option("max_width", &LinePreprocess::max_width, at_least(8), "the widest a scaled line may be; longer lines are squeezed")
                                 .option("mean", &LinePreprocess::mean, anything(), "subtracted from pixels in [0, 1]")
                                 .option("std", &LinePreprocess::std, positive(), "divides pixels after the mean");
  return schema;
}

cv::Mat LinePreprocess::scaled(const cv::Mat& rgb) const {
  const double ratio = static_cast<double>(height) / rgb.rows;
  const int width = static_cast<int>(std::clamp<int64_t>(std::lround(rgb.cols * ratio), 8, max_width));
  cv::Mat out;
  cv::resize(rgb, out, cv::Size(width, static_cast<int>(height)), 0, 0, ratio < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

torch::Tensor LinePreprocess::to_tensor(const cv::Mat& rgb, int64_t channels) const {
  cv::Mat image = scaled(rgb);
  if (channels == 1) cv::cvtColor(image, image, cv::COLOR_RGB2GRAY);
  cv::Mat pixels;
  image.convertTo(pixels, CV_32F, 1.0 / (255.0 * std), -mean / std);
  const auto hwc = torch::from_blob(pixels.data, {pixels.rows, pixels.cols, pixels.channels()}, torch::kFloat32);
  // (C, H, w) as a copy, since `pixels` is freed on return (contiguous() would not copy a
  // one-channel image: (1, H, w) is already contiguous).
  return hwc.permute({2, 0, 1}).clone(torch::MemoryFormat::Contiguous);
}

std::pair<torch::Tensor, torch::Tensor> pad_lines(const std::vector<torch::Tensor>& lines) {
  int64_t widest = 0;
  std::vector<int64_t> widths;
  for (const auto& line : lines) widths.push_back(line.size(2)), widest = std::max(widest, line.size(2));
  auto batch = torch::zeros({static_cast<int64_t>(lines.size()), lines.at(0).size(0), lines.at(0).size(1), widest});
  for (size_t i = 0; i < lines.size(); ++i) batch[static_cast<int64_t>(i)].narrow(2, 0, widths[i]).copy_(lines[i]);
  return {batch, torch::tensor(widths, torch::kInt64)};
}

void write_line_folder(const LineDataset& lines, const std::string& dir) {
  fs::create_directories(dir);
  std::string tsv;
  char file[32];
  for (int64_t i = 0; i < lines.size(); ++i) {
    std::snprintf(file, sizeof(file), "%06lld.png", static_cast<long long>(i));
    write_image((fs::path(dir) / file).string(), lines.image(i));
    if (lines.text(i).find_first_of("\t\n\r") != std::string::npos) throw Error("cannot write " + lines.describe(i) + ": its text holds a tab or line break");
    tsv += std::string(file) + "\t" + lines.text(i) + "\n";
  }
  const std::string path = (fs::path(dir) / "labels.tsv").string();
  std::ofstream out(path, std::ios::binary);
  out << tsv;
  if (!out) throw Error("cannot write " + path);
}

}  // namespace zoo::data
