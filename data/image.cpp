#include "data/image.h"
#include "data/rand_augment.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <cerrno>
#include <cstring>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "lib/core/error.h"

namespace zoo::data {

namespace {

// Why the encoded image `bytes` is visibly cut short, or "". Decoders would otherwise return
// the part they got (libjpeg fills the rest with grey) and print warnings of their own.
std::string truncation(const std::vector<uchar>& bytes) {
  const size_t n = bytes.size();
  if (n >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
    // JPEG: inside entropy-coded data a 0xFF is always followed by 0x00 or a restart marker, so
    // the first FF D9 after the last start-of-scan (FF DA) is the end-of-image marker.
    size_t last_scan = std::string::npos;
    for (size_t i = 0; i + 1 < n; ++i)
      if (bytes[i] == 0xFF && bytes[i + 1] == 0xDA) last_scan = i;
    if (last_scan == std::string::npos) return "a JPEG file without image data (no start-of-scan marker)";
    for (size_t i = last_scan + 2; i + 1 < n; ++i)
      if (bytes[i] == 0xFF && bytes[i + 1] == 0xD9) return "";
    return "a truncated JPEG file (no end-of-image marker after its last scan)";
  }
  static const uchar png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 8 && std::equal(png_signature, png_signature + 8, bytes.begin())) {
    // PNG: the IEND chunk (length 0, type, CRC: 12 bytes) ends the file.
    static const uchar iend[4] = {'I', 'E', 'N', 'D'};
    if (n < 8 + 12 || !std::equal(iend, iend + 4, bytes.end() - 8)) return "a truncated PNG file (no IEND chunk at its end)";
  }
  return "";
}

}  // namespace

void require_files(const std::vector<std::string>& paths, const std::string& source) {
  int64_t missing = 0;
  std::string first;
  for (const auto& path : paths) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec) && missing++ == 0) first = path;
  }
  if (missing > 0)
    throw Error("image file not found: " + first + " (image of " + source + (missing > 1 ? "; " + std::to_string(missing - 1) + " more missing" : "") + ")");
}

cv::Mat read_image(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error("cannot read image " + path + ": no such file");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  const std::streamoff size = in ? static_cast<std::streamoff>(in.tellg()) : -1;
  if (size < 0) throw Error("cannot read image " + path + ": " + std::strerror(errno));
  std::vector<uchar> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) throw Error("cannot read image " + path + ": read failed");
  if (bytes.empty()) throw Error("cannot decode image " + path + ": the file is empty (0 bytes)");
  if (const std::string why = truncation(bytes); !why.empty()) throw Error("cannot decode image " + path + ": " + why);
  cv::Mat img;
  try {
    img = cv::imdecode(bytes, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw Error("cannot decode image " + path + ": " + first_line(e.what()));
  }
  if (img.empty()) throw Error("cannot decode image " + path + " (not an image OpenCV can read)");
  cv::cvtColor(img, img, cv::COLOR_BGR2RGB);
  return img;
}

void write_image(const std::string& path, const cv::Mat& rgb) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  if (!cv::imwrite(path, bgr)) throw Error("cannot write image " + path);
}

cv::Mat resize_exact(const cv::Mat& img, int height, int width) {
  if (img.rows == height && img.cols == width) return img;
  cv::Mat out;
  // Area averaging when shrinking approximates the antialiased resize torchvision applies.
  const bool shrink = height < img.rows && width < img.cols;
  cv::resize(img, out, cv::Size(width, height), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

cv::Mat resize_shorter(const cv::Mat& img, int size) {
  const int h = img.rows, w = img.cols;
  if (std::min(h, w) == size) return img;
  // torchvision: the long side is int(size * long / short), truncated.
  if (h <= w) return resize_exact(img, size, static_cast<int>(static_cast<int64_t>(size) * w / h));
  return resize_exact(img, static_cast<int>(static_cast<int64_t>(size) * h / w), size);
}

cv::Mat center_crop(const cv::Mat& img, int height, int width) {
  cv::Mat src = img;
  if (src.rows < height || src.cols < width) {
    const int pad_h = std::max(0, height - src.rows), pad_w = std::max(0, width - src.cols);
    cv::copyMakeBorder(src, src, pad_h / 2, (pad_h + 1) / 2, pad_w / 2, (pad_w + 1) / 2, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  }
  // torchvision rounds the offsets: int(round((H - h) / 2)).
  const int top = static_cast<int>(std::lround((src.rows - height) / 2.0));
  const int left = static_cast<int>(std::lround((src.cols - width) / 2.0));
  return src(cv::Rect(left, top, width, height)).clone();
}

cv::Mat random_resized_crop(const cv::Mat& img, int height, int width, Rng& rng, double scale_min,
                            double scale_max, double ratio_min, double ratio_max) {
  const int H = img.rows, W = img.cols;
  const double area = static_cast<double>(H) * W;
  const double log_rmin = std::log(ratio_min), log_rmax = std::log(ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(scale_min, scale_max);
    const double aspect = std::exp(rng.uniform(log_rmin, log_rmax));
    const int w = static_cast<int>(std::lround(std::sqrt(target_area * aspect)));
    const int h = static_cast<int>(std::lround(std::sqrt(target_area / aspect)));
    if (w > 0 && h > 0 && w <= W && h <= H) {
      const int top = static_cast<int>(rng.randint(0, H - h + 1));
      const int left = static_cast<int>(rng.randint(0, W - w + 1));
      return resize_exact(img(cv::Rect(left, top, w, h)), height, width);
    }
  }
  // Fallback: the whole image clamped to the ratio range, centred.
  const double in_ratio = static_cast<double>(W) / H;
  int w = W, h = H;
  if (in_ratio < ratio_min) {
    h = static_cast<int>(std::lround(w / ratio_min));
  } else if (in_ratio > ratio_max) {
    w = static_cast<int>(std::lround(h * ratio_max));
  }
  const int top = (H - h) / 2, left = (W - w) / 2;
  return resize_exact(img(cv::Rect(left, top, w, h)), height, width);
}

cv::Mat pad_random_crop(const cv::Mat& img, int height, int width, int padding, Rng& rng) {
  cv::Mat padded;
  cv::copyMakeBorder(img, padded, padding, padding, padding, padding, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  if (padded.rows < height || padded.cols < width) return center_crop(padded, height, width);
  const int top = static_cast<int>(rng.randint(0, padded.rows - height + 1));
  const int left = static_cast<int>(rng.randint(0, padded.cols - width + 1));
  return padded(cv::Rect(left, top, width, height)).clone();
}

cv::Mat hflip(const cv::Mat& img) {
  cv::Mat out;
  cv::flip(img, out, 1);
  return out;
}

torch::Tensor to_tensor(const cv::Mat& rgb, const std::vector<double>& mean, const std::vector<double>& std) {
  if (rgb.type() != CV_8UC3) throw Error("to_tensor expects an 8-bit 3-channel image");
  if (mean.size() != 3 || std.size() != 3) throw Error("mean and std need 3 values, one per channel");
  const int64_t H = rgb.rows, W = rgb.cols;
  auto out = torch::empty({3, H, W}, torch::kFloat32);  // (3, H, W)
  float* dst = out.data_ptr<float>();
  float scale[3], shift[3];  // (x / 255 - mean) / std  ==  x * scale + shift
  for (int c = 0; c < 3; ++c) scale[c] = static_cast<float>(1.0 / (255.0 * std[c])), shift[c] = static_cast<float>(-mean[c] / std[c]);
  // A plain loop, not tensor ops: loader workers must not start LibTorch's thread pool.
  for (int64_t y = 0; y < H; ++y) {
    const uint8_t* row = rgb.ptr<uint8_t>(static_cast<int>(y));
    for (int64_t x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) dst[c * H * W + y * W + x] = row[3 * x + c] * scale[c] + shift[c];
  }
  return out;
}

torch::Tensor Preprocess::train(const cv::Mat& rgb, Rng& rng) const {
  cv::Mat img;
  if (train_aug == "rrc") {
    img = random_resized_crop(rgb, input_size, input_size, rng);
  } else if (train_aug == "crop") {
    img = pad_random_crop(resize_exact(rgb, input_size, input_size), input_size, input_size, 4 * input_size / 32, rng);
  } else {
    return eval(rgb);
  }
  if (rng.bernoulli(hflip)) img = data::hflip(img);
  if (const auto spec = parse_rand_augment(auto_augment)) img = rand_augment(img, *spec, rng);
  return to_tensor(img, mean, std);
}

cv::Mat Preprocess::eval_image(const cv::Mat& rgb) const {
  const int resize = static_cast<int>(std::floor(input_size / crop_pct));
  return center_crop(resize_shorter(rgb, resize), input_size, input_size);
}

torch::Tensor Preprocess::eval(const cv::Mat& rgb) const { return to_tensor(eval_image(rgb), mean, std); }

}  // namespace zoo::data
