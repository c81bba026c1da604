// The OCR family's entries in the model registry. Each model's options are its line
// preprocessing's (data/text_lines.h) and its architecture's; counts at the defaults.
#include "models/ocr/register.h"

#include "data/text_lines.h"
#include "models/ocr/crnn.h"

namespace zoo {

void register_ocr_models(Registry& registry) {
  using namespace zoo::models;
  // The paper trained CRNN with Adadelta (rho 0.9), which zoo lacks; Adam at 1e-3 is
  // crnn.pytorch's other choice, here with a short warm-up, a cosine decay and clipping at 5.
  const Recipe recipe = {{"opt", "adam"}, {"lr", 1e-3}, {"weight_decay", 0.0}, {"sched", "cosine"}, {"warmup_fraction", 0.02}, {"min_lr", 1e-5},
                         {"clip_grad", 5.0}};
  {
    ModelSpec spec{"crnn", "ocr", "ocr", "CRNN (Shi et al. 2015): VGG-style CNN to one row of columns, two bidirectional LSTMs of 256, CTC; grey 32-pixel lines",
                   {}, 8331301, nullptr, recipe};
    data::LinePreprocess preprocess;
    preprocess.max_width = 512;
    spec.options.add(data::LinePreprocess::options(), preprocess).add(CrnnConfig::options(), CrnnConfig{});
    spec.options.rule([](const Json& o) {
      if (o.at("height").get<int64_t>() != 32) throw UsageError("invalid CRNN height " + std::to_string(o.at("height").get<int64_t>()) + ": its CNN takes 32-pixel lines");
    });
    spec.create = [](const Json& options) { return std::make_shared<CrnnImpl>(CrnnConfig::options().read(options, CrnnConfig{})); };
    registry.add_model(std::move(spec));
  }
}

}  // namespace zoo
