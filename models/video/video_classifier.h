// What every video classifier of the zoo offers the video task: clips in, class logits out.
// A clip is (B, 3, T, H, W), channels before time as torchvision's video models take it.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "lib/core/checkpoint.h"
#include "lib/core/option_schema.h"
#include "lib/viz/figure.h"

namespace zoo::models {

// How a clip is taken from a video: T frames `frame_stride` apart (data::clip_frame_indices).
// Part of every video model's options (`--frames T` sets num_frames), since T shapes the model
// (TimeSformer's time embedding, MViT's temporal grid).
struct ClipSampling {
  int64_t num_frames = 8;
  int64_t frame_stride = 2;
  static const OptionSchema<ClipSampling>& options() {
    static const auto schema = OptionSchema<ClipSampling>("clip sampling")
                                   .option("num_frames", &ClipSampling::num_frames, at_least(1), "frames per clip, T (--frames T)")
                                   .option("frame_stride", &ClipSampling::frame_stride, at_least(1),
                                           "frames between the clip's frames in the video (less when the video is too short for T at this stride)");
    return schema;
  }
};

// One frame of a clip and the model's maps for it, for `zoo visualize`: the task turns tiles into
// frames (Figure::frames) from `frame_of_map`.
struct VideoFigure {
  viz::Figure figure;
  std::vector<int64_t> frame_of_map;  // per map, the clip frame it is drawn over
};

class VideoClassifierImpl : public torch::nn::Module {
 public:
  // (B, 3, T, H, W) normalised clips -> (B, num_classes) logits.
  virtual torch::Tensor forward(torch::Tensor clips) = 0;
  // Parameter-name prefixes of the classification head.
  virtual std::vector<std::string> head_prefixes() const = 0;
  // Fits a state_dict made for another configuration (another T or image size) before loading.
  virtual void adapt_state_dict(NamedTensors& tensors) const {}
  // --init from an image classifier's checkpoint (`meta` its meta): its weights renamed and fitted
  // to this model's (a ViT's into TimeSformer, a trunk into cnn_lstm); the tensors it does not
  // fill keep this model's. Default: refused.
  virtual void adapt_image_weights(const std::string& image_model, NamedTensors& tensors) const {
    throw UsageError("--init: this video model takes no image classifier's weights");
  }
  // What the model attends to in one clip (1, 3, T, S, S) for `zoo visualize`; options.query is a
  // position in input pixels. Default: nothing to show.
  virtual std::vector<VideoFigure> look(const torch::Tensor& clip, const viz::LookOptions& options) {
    throw UsageError("visualize is not available for " + options.model + " (it has no attention): try timesformer_*");
  }
};

}  // namespace zoo::models
