// Text-line recognition data (--task ocr): images of one line of text with their transcripts.
// Real data is a folder of line images with labels.tsv (`file<TAB>text`); synth:lines renders
// random words and numbers with FreeType in several fonts, sizes and slants, with noise and blur.
#pragma once
#include <torch/torch.h>

#include <opencv2/core.hpp>

#include <memory>
#include <string>
#include <vector>

#include "data/line_labels.h"
#include "lib/core/option_schema.h"

namespace zoo::data {

// Line images with their transcripts: the RGB image (any width and height) and its text.
class LineDataset {
 public:
  virtual ~LineDataset() = default;
  virtual int64_t size() const = 0;
  virtual cv::Mat image(int64_t index) const = 0;  // Error naming the file when it cannot be read
  virtual const std::string& text(int64_t index) const = 0;
  virtual std::string describe(int64_t index) const = 0;
};

// DIR/labels.tsv and the images it names. Error when DIR or its labels.tsv is missing or bad.
class LineFolder : public LineDataset {
 public:
  explicit LineFolder(const std::string& dir);
  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  cv::Mat image(int64_t index) const override;
  const std::string& text(int64_t index) const override { return labels_.at(static_cast<size_t>(index)).text; }
  std::string describe(int64_t index) const override;

 private:
  std::string dir_;
  std::vector<LineLabel> labels_;
};

// Some lines of another set (a held-out split of one folder).
class LineSubset : public LineDataset {
 public:
  LineSubset(std::shared_ptr<const LineDataset> base, std::vector<int64_t> indices) : base_(std::move(base)), indices_(std::move(indices)) {}
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  cv::Mat image(int64_t index) const override { return base_->image(at(index)); }
  const std::string& text(int64_t index) const override { return base_->text(at(index)); }
  std::string describe(int64_t index) const override { return base_->describe(at(index)); }

 private:
  int64_t at(int64_t index) const { return indices_.at(static_cast<size_t>(index)); }
  std::shared_ptr<const LineDataset> base_;
  std::vector<int64_t> indices_;
};

// The split of line folders behind --data: PATH/train, PATH/val (or PATH/test) each with their
// labels.tsv, or one folder whose last val_fraction (of a fixed shuffle) is held out for val/test.
std::shared_ptr<LineDataset> open_line_folder_split(const std::string& path, const std::string& split, double val_fraction);

// synth:lines: line i is a pure function of (seed, i): one to three words (a list of common
// English words, lower case, capitalised or upper case) or numbers (digit strings, some with a
// sign, a decimal point or thousands separators), drawn in one of the six DejaVu fonts of
// fonts-dejavu-core at 18 to 30 px, slanted by a shear of up to 0.3, in dark ink on a light
// background of random grey levels, blurred and with pixel noise, and scaled to `height` pixels
// high (the width follows the text).
class SynthLines : public LineDataset {
 public:
  SynthLines(int64_t size, int height, uint64_t seed);
  int64_t size() const override { return size_; }
  cv::Mat image(int64_t index) const override;
  const std::string& text(int64_t index) const override { return texts_.at(static_cast<size_t>(index)); }
  std::string describe(int64_t index) const override { return "synth:lines#" + std::to_string(index); }
  // Every character synth:lines writes, in code-point order (the alphabet of a model trained on it).
  static const std::string& alphabet();

 private:
  int64_t size_;
  int height_;
  uint64_t seed_;
  std::vector<std::string> texts_;
};

// synth:lines' split `split` (train: `size` lines; val and test: a quarter, at least 64), each
// from its own seed.
std::shared_ptr<LineDataset> synth_lines_split(int64_t size, int height, uint64_t seed, const std::string& split);

// The characters a recognizer reads, as label ids: 0 is CTC's blank, character k of `chars`
// (code-point order) is k + 1.
class LineAlphabet {
 public:
  LineAlphabet() = default;
  explicit LineAlphabet(const std::string& chars);  // UTF-8, each character once (Error otherwise)
  // Every character of `texts`, once each, in code-point order.
  static LineAlphabet of_texts(const std::vector<std::string>& texts);
  const std::string& chars() const { return chars_; }
  int64_t num_labels() const { return static_cast<int64_t>(code_points_.size()) + 1; }  // with the blank
  // The label ids of `text`; characters outside the alphabet are left out and counted in *unknown.
  std::vector<int64_t> encode(const std::string& text, int64_t* unknown = nullptr) const;
  // Label ids (never the blank) back to UTF-8.
  std::string decode(const std::vector<int64_t>& labels) const;

 private:
  std::string chars_;
  std::vector<char32_t> code_points_;
};

// How a line image becomes a recognizer's input: scaled to `height` pixels keeping its aspect
// ratio, at most max_width wide (a longer line is squeezed) and at least 8, grey (OpenCV's
// 0.299 R + 0.587 G + 0.114 B) or RGB, normalised (x / 255 - mean) / std.
struct LinePreprocess {
  int64_t height = 32;
  int64_t max_width = 512;
  double mean = 0.5, std = 0.5;
  static const OptionSchema<LinePreprocess>& options();
  // The image as (channels, height, w) floats.
  torch::Tensor to_tensor(const cv::Mat& rgb, int64_t channels) const;
  // The image as the model sees it (scaled, grey or RGB), 8-bit RGB, for figures.
  cv::Mat scaled(const cv::Mat& rgb) const;
};

// Lines (C, H, w_i) padded on the right with zeros (mid-grey after normalising) to the widest:
// (B, C, H, W), and their widths w_i (B).
std::pair<torch::Tensor, torch::Tensor> pad_lines(const std::vector<torch::Tensor>& lines);

// Writes a set as DIR/NNNNNN.png and DIR/labels.tsv (a line folder that LineFolder reads back).
void write_line_folder(const LineDataset& lines, const std::string& dir);

}  // namespace zoo::data
