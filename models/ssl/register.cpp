#include "models/ssl/register.h"

#include "models/ssl/ssl.h"

namespace zoo {

void register_ssl_models(Registry& registry) { registry.add_wrapper(models::ssl_wrapper()); }

}  // namespace zoo
