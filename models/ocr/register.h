// The text-line recognizers' entries in the model registry.
#pragma once
#include "lib/core/registry.h"

namespace zoo {

void register_ocr_models(Registry& registry);

}  // namespace zoo
