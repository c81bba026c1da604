// The BERT family's entries in the model registry: bert_* for --task mlm, and the wrapper that
// makes the same models classify text (--task text_classify).
#pragma once
#include "lib/core/registry.h"

namespace zoo {

void register_bert_models(Registry& registry);

}  // namespace zoo
