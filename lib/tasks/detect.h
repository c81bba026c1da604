// Object detection with DETR: COCO instances (or synth:boxes) with DETR's augmentation, the
// Hungarian set loss (models/detect/set_criterion.h), COCO box AP and AR exactly as pycocotools'
// COCOeval computes them (lib/detect/coco_eval.h), detections in the COCO results format, and
// where each detected object's query looks. The model's labels are the data's category ids in
// order (categories travel in the checkpoint); detections carry the ids back.
#pragma once
#include <map>
#include <memory>
#include <optional>

#include "data/datasets.h"
#include "data/detection.h"
#include "lib/tasks/task.h"
#include "models/detect/detr.h"

namespace zoo {

class DetectTask : public TaskBase {
 public:
  DetectTask();
  void setup_training(const Options& config, torch::Device device) override;
  // --bad-samples, and predict's --threshold.
  void set_inference_options(const Options& options) override;
  void use_torchscript(torch::jit::Module module) override { scripted_ = std::move(module); }

  Json meta() const override;
  std::vector<std::string> head_prefixes() const override { return {"class_embed.", "query_embed."}; }

  // The backbone at backbone_lr (when set) and the rest at --lr; frozen parameters in neither.
  std::vector<ParameterGroup> parameter_groups() const override;
  int64_t batches_per_epoch() const override;
  int64_t examples_per_epoch() const override { return train_set_ ? train_set_->size() : 0; }
  std::string describe_sample(int64_t id) const override { return train_set_->describe(id); }
  std::vector<std::string> take_notices() override { return bad_samples_->take_notices(); }
  std::unique_ptr<BatchStream> train_batches(int64_t epoch, int64_t first_batch) override;
  torch::Tensor loss(const Batch& batch) override;
  // COCO's twelve box numbers (ap, ap50, ... ar_large) of the split's detections.
  Json evaluate(const std::string& split, const std::string& data = "") override;
  std::string main_metric() const override { return "ap"; }

  // Each image's detections scoring at least --threshold, boxes in the image's pixels (COCO's
  // x, y, w, h); --results FILE writes them as a COCO results file, --out FILE.png draws them.
  Json predict(const std::vector<std::string>& inputs, const Options& options) override;
  // Where each detected object's query looks (the last decoder layer's cross-attention, heads
  // averaged; DETR's figure), each tile with its box; NAME_boxes.png: the detections over the
  // image; NAME_encoder.png: the encoder's self-attention of the --query point.
  std::vector<std::string> visualize(const std::string& input, const std::string& out_png) override;
  std::vector<std::string> visualize_validation_example(const std::string& out_png) override;
  // forward(images) -> (logits (B, N, classes + 1), boxes (B, N, 4) as cx, cy, w, h in [0, 1]).
  void export_torchscript(const std::string& path) override;
  // import --from detr: the classes and queries the state dict's heads have; COCO's category
  // names at 91 classes (labels are COCO's ids, as DETR trains), else "class K".
  Json import_meta(const std::string& model, Json options, const NamedTensors& tensors) const override;
  // zoo data synth --kind boxes: synth:boxes' train and val splits as a COCO root.
  static std::string write_synthetic(const SynthRequest& request);

  // One image's detections: every query's best label but "no object" and its probability, its
  // box (x0, y0, x1, y1) in the original image's pixels; the queries in order.
  struct Detections {
    torch::Tensor scores, labels, boxes;  // (N), (N), (N, 4) on the CPU
    torch::Tensor cross_attention;        // (N, h, w) with attention, else undefined
    torch::Tensor encoder_attention;      // (hw, h, w) with attention, else undefined
  };
  // Runs the model on RGB images, in batches of the loader's size.
  std::vector<Detections> detect(const std::vector<cv::Mat>& images, bool attention = false);
  const std::vector<data::DetectionCategory>& categories() const { return categories_; }

 private:
  void read_meta(const Json& meta) override;
  void build_model() override;
  data::DetectionSet open_split(const std::string& data, const std::string& split) const;
  data::DetectionAugment augment() const;
  // An image's non-crowd objects as the model's labels, in corner form.
  data::BoxedImage boxed(const data::DetectionSet& set, int64_t index, const cv::Mat& image) const;

  models::DetrImageConfig image_;
  models::DetrLossConfig loss_config_;
  std::vector<data::DetectionCategory> categories_;  // label k -> category
  std::map<int64_t, int64_t> label_of_;               // category id -> label k (set_categories)
  void set_categories(std::vector<data::DetectionCategory> categories);
  double threshold_ = 0.7;
  std::optional<cv::Point> query_;  // visualize --query, in the input image's pixels
  std::shared_ptr<models::DetrImpl> model_;
  std::optional<torch::jit::Module> scripted_;
  std::optional<data::DetectionSet> train_set_, val_set_;
  std::shared_ptr<data::BadSamples> bad_samples_ = data::bad_samples_policy("fail");
};

// `zoo eval --task detect --data D --detections FILE`: a COCO results file of boxes scored
// against split `split` of D as pycocotools does (boxes as given); an image id the split does
// not hold is an Error naming it, as loadRes refuses one.
Json score_detection_results(const std::string& data, const std::string& split, const std::string& results, double val_fraction);

}  // namespace zoo
