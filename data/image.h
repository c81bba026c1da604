// Images for the dataset layer: OpenCV decoding and the torchvision-style transforms.
// Images are RGB uint8 cv::Mat (HWC) until to_tensor turns them into normalised CHW floats.
#pragma once
#include <torch/torch.h>

#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "data/rand_augment.h"
#include "lib/core/option_schema.h"
#include "lib/core/runtime.h"

namespace zoo::data {

// Decodes any format OpenCV reads (jpg, png, bmp, webp, ...) to 3-channel RGB; grey and
// alpha images are converted. Error naming the file when it cannot be read or decoded.
cv::Mat read_image(const std::string& path);
// Every file of a data set exists (checked before training starts): Error naming the first that
// does not, how many more are missing, and `source` (the annotation file that lists them).
void require_files(const std::vector<std::string>& paths, const std::string& source);
void write_image(const std::string& path, const cv::Mat& rgb);

// torchvision Resize(size): the shorter side becomes `size`, the aspect ratio is kept.
cv::Mat resize_shorter(const cv::Mat& img, int size);
cv::Mat resize_exact(const cv::Mat& img, int height, int width);
// torchvision CenterCrop: pads with zeros where the image is smaller than the crop.
cv::Mat center_crop(const cv::Mat& img, int height, int width);
// torchvision RandomResizedCrop(size, scale, ratio): 10 tries for a crop of the sampled area
// and log-uniform aspect ratio, else a center crop of the clamped ratio; then resized.
cv::Mat random_resized_crop(const cv::Mat& img, int height, int width, Rng& rng,
                            double scale_min = 0.08, double scale_max = 1.0,
                            double ratio_min = 3.0 / 4.0, double ratio_max = 4.0 / 3.0);
// torchvision RandomCrop(size, padding): zero padding on every side, then a random window.
cv::Mat pad_random_crop(const cv::Mat& img, int height, int width, int padding, Rng& rng);
cv::Mat hflip(const cv::Mat& img);

// HWC uint8 RGB -> CHW float32, (x / 255 - mean) / std per channel.
torch::Tensor to_tensor(const cv::Mat& rgb, const std::vector<double>& mean, const std::vector<double>& std);

// The preprocessing of a classifier (timm's data config), stored in checkpoints and exported
// files. Its options, with each classifier's defaults, are part of that model's --set options.
struct Preprocess {
  int64_t input_size = 224;
  double crop_pct = 0.875;
  std::string train_aug = "rrc";
  double hflip = 0.5;
  std::vector<double> mean{0.485, 0.456, 0.406};
  std::vector<double> std{0.229, 0.224, 0.225};
  std::string auto_augment;

  static const OptionSchema<Preprocess>& options();
  torch::Tensor train(const cv::Mat& rgb, Rng& rng) const;
  torch::Tensor eval(const cv::Mat& rgb) const;
  cv::Mat eval_image(const cv::Mat& rgb) const;  // eval's resize and centre crop, before normalising
  nlohmann::json to_json() const { return options().to_json(*this); }
  static Preprocess from_json(const nlohmann::json& j) { return options().read(j, Preprocess{}); }
};

inline const OptionSchema<Preprocess>& Preprocess::options() {
  static const auto schema =
      OptionSchema<Preprocess>("image preprocessing")
          .option("input_size", &Preprocess::input_size, at_least(1), "side of the square image the model sees")
          .option("crop_pct", &Preprocess::crop_pct, in_range(0, 1, "(]"),
                  "evaluation: resize the shorter side to input_size / crop_pct, then center-crop")
          .option("train_aug", &Preprocess::train_aug, one_of({"rrc", "crop", "none"}),
                  "training: rrc = random resized crop + flip; crop = 4-pixel-padded random crop + flip (CIFAR); none (flip: hflip)")
          .option("hflip", &Preprocess::hflip, in_range(0, 1, "[]"),
                  "training: the chance of a horizontal flip after the crop (0 where left and right differ in meaning: a motion's direction)")
          .option("mean", &Preprocess::mean, anything(), "per-channel mean subtracted (RGB, of pixels in [0, 1])")
          .option("std", &Preprocess::std, positive(), "per-channel standard deviation divided by (RGB)")
          .option("auto_augment", &Preprocess::auto_augment, anything(),
                  "RandAugment after the crop and flip in training: rand-mM-nN (N ops of 14 at magnitude M of 0..30, "
                  "torchvision's op set and magnitudes; DeiT: rand-m9-n2); empty: off")
          .rule([](const Preprocess& p) {
            if (p.mean.size() != 3 || p.std.size() != 3)
              throw UsageError("invalid mean/std: expected 3 numbers each (R,G,B), got " + std::to_string(p.mean.size()) + " and " +
                               std::to_string(p.std.size()));
            parse_rand_augment(p.auto_augment);  // names what is wrong with the spec
          });
  return schema;
}

}  // namespace zoo::data
