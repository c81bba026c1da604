// The OCR family's entries in the model registry. Each model's options are its line
// preprocessing's (data/text_lines.h) and its architecture's; counts at the defaults.
#include "models/ocr/register.h"

#include "data/text_lines.h"
#include "models/ocr/attention_ocr.h"
#include "models/ocr/crnn.h"
#include "models/ocr/ctc_transformer.h"

namespace zoo {

void register_ocr_models(Registry& registry) {
  using namespace zoo::models;
  // The paper trained CRNN with Adadelta (rho 0.9), which zoo lacks; Adam at 1e-3 is
  // crnn.pytorch's other choice, here with a short warm-up, a cosine decay and clipping at 5.
  const Recipe recipe = {{"opt", "adam"}, {"lr", 1e-3}, {"weight_decay", 0.0}, {"sched", "cosine"}, {"warmup_fraction", 0.02}, {"min_lr", 1e-5},
                         {"clip_grad", 5.0}};
  // Every encoder here turns a line into columns with convolutions made for 32-pixel lines.
  auto add = [&](ModelSpec spec, const auto& schema, const auto& defaults, auto create) {
    data::LinePreprocess preprocess;
    preprocess.max_width = 512;
    spec.options.add(data::LinePreprocess::options(), preprocess).add(schema, defaults);
    spec.options.rule([name = spec.name](const Json& o) {
      if (o.at("height").get<int64_t>() != 32)
        throw UsageError("invalid " + name + " height " + std::to_string(o.at("height").get<int64_t>()) + ": its convolutions take 32-pixel lines");
    });
    spec.create = [&schema, defaults, create](const Json& options) { return create(schema.read(options, defaults)); };
    spec.recipe = recipe;
    registry.add_model(std::move(spec));
  };
  add({"crnn", "ocr", "ocr", "CRNN (Shi et al. 2015): VGG-style CNN to one row of columns, two bidirectional LSTMs of 256, CTC; grey 32-pixel lines", {}, 8331301},
      CrnnConfig::options(), CrnnConfig{}, [](const CrnnConfig& c) { return std::make_shared<CrnnImpl>(c); });
  add({"ctc_transformer", "ocr", "ocr",
       "convolutional stem (4 convs to W/4 columns), 4 pre-norm Transformer encoder blocks of 256 (4 heads), CTC; grey 32-pixel lines", {}, 4260837},
      CtcTransformerConfig::options(), CtcTransformerConfig{}, [](const CtcTransformerConfig& c) { return std::make_shared<CtcTransformerImpl>(c); });
  add({"attention_ocr", "ocr", "ocr",
       "CRNN's encoder (or encoder=transformer: ctc_transformer's) read by a GRU decoder with Bahdanau (or location) attention, one character a step",
       {}, 9108645},
      AttentionOcrConfig::options(), AttentionOcrConfig{}, [](const AttentionOcrConfig& c) { return std::make_shared<AttentionOcrImpl>(c); });
}

}  // namespace zoo
