#include "lib/core/error.h"

#include <cstring>

namespace zoo {

std::string first_line(const std::string& message) {
  auto end = message.find('\n');
  return end == std::string::npos ? message : message.substr(0, end);
}

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace zoo
