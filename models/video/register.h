// The video family's entries in the model registry.
#pragma once
#include "lib/core/registry.h"

namespace zoo {

void register_video_models(Registry& registry);

}  // namespace zoo
