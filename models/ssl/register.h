// The ssl family's entry in the model registry: a wrapper around any classifier (models/ssl/ssl.h).
#pragma once
#include "lib/core/registry.h"

namespace zoo {

void register_ssl_models(Registry& registry);

}  // namespace zoo
