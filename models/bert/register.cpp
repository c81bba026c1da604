// Google's BERT sizes (the 24 smaller models of Turc et al. 2019, "Well-Read Students Learn
// Better", and BERT-Base): layers L, width H, heads H/64 (Tiny: 2), FFN 4H. Each model takes the
// text options of data/bert_inputs.h; its counts are BertForMaskedLM's with the pooler (as the
// published BertForPreTraining checkpoints, less the next-sentence head) at the published
// 30,522-piece uncased vocabulary: a vocabulary learnt from the training text makes it smaller.
#include "models/bert/register.h"

#include "data/bert_inputs.h"
#include "models/bert/bert.h"

namespace zoo {

namespace {

struct TextClassifierConfig {
  int64_t num_classes = 2;
  static const OptionSchema<TextClassifierConfig>& options() {
    static const auto schema = OptionSchema<TextClassifierConfig>("text classifier")
                                   .option("num_classes", &TextClassifierConfig::num_classes, at_least(2), "classes; follows the data's labels");
    return schema;
  }
};

}  // namespace

void register_bert_models(Registry& registry) {
  using namespace zoo::models;
  // BERT's pretraining recipe scaled to short runs: AdamW (weight decay 0.01), a warm-up (10k of
  // its 1M steps; here 6% as in RoBERTa), decay to zero (linear in BERT; cosine here), clipping at
  // 1; the learning rate of the small models (Turc et al. use 1e-4 at batch 256 for 1M steps).
  const Recipe recipe = {{"opt", "adamw"}, {"lr", 5e-4}, {"weight_decay", 0.01}, {"sched", "cosine"}, {"warmup_fraction", 0.06},
                         {"min_lr", 0.0},  {"clip_grad", 1.0}};
  auto add = [&](const char* name, const char* description, int64_t layers, int64_t width, int64_t heads, int64_t params) {
    BertConfig config;
    config.layers = layers, config.width = width, config.heads = heads, config.ffn = 4 * width;
    ModelSpec spec{name, "mlm", "bert", description, {}, params, nullptr, recipe};
    spec.options.add(BertConfig::options(), config).add(data::BertInputs::options(), data::BertInputs{});
    spec.create = [config](const Json& options) {
      return std::make_shared<BertForMaskedLmImpl>(BertConfig::options().read(options, config));
    };
    registry.add_model(std::move(spec));
  };
  add("bert_tiny", "BERT-Tiny (Turc et al.): 2 layers, width 128, 2 heads; masked-LM head tied to the word embeddings", 2, 128, 2, 4433210);
  add("bert_mini", "BERT-Mini: 4 layers, width 256, 4 heads", 4, 256, 4, 11267386);
  add("bert_small", "BERT-Small: 4 layers, width 512, 8 heads", 4, 512, 8, 29057850);
  add("bert_base", "BERT-Base (Devlin et al.): 12 layers, width 768, 12 heads", 12, 768, 12, 110104890);

  // --task text_classify: the same models with a linear classifier on the pooled [CLS] state
  // (BertForSequenceClassification); its fine-tuning recipe is the paper's: AdamW at 5e-5 (of
  // 2e-5..5e-5 for BERT-Base; the small models of Turc et al. take up to 1e-4; 2e-4 here, for short
  // runs), warm-up 10%, decay, batch 32.
  ModelWrapper w;
  w.task = "text_classify", w.wrapped_task = "mlm", w.family = "bert";
  w.description = "the bert_* models fine-tuned to classify a text from [CLS] (--init a masked-LM checkpoint)";
  w.options.add(TextClassifierConfig::options(), TextClassifierConfig{});
  w.recipe = {{"opt", "adamw"}, {"lr", 2e-4}, {"weight_decay", 0.01}, {"sched", "cosine"}, {"warmup_fraction", 0.1}, {"min_lr", 0.0},
              {"clip_grad", 1.0}, {"batch_size", 32}};
  w.create = [](const ModelSpec&, const Json& options) -> std::shared_ptr<torch::nn::Module> {
    // `options` is complete (the wrapped model's sizes included), so no default is read.
    return std::make_shared<BertClassifierImpl>(BertConfig::options().read(options, BertConfig{}),
                                                TextClassifierConfig::options().read(options, {}).num_classes);
  };
  registry.add_wrapper(std::move(w));
}

}  // namespace zoo
