// Tensors in and out of safetensors files (lib/export/safetensors_format.h says what is checked).
#pragma once
#include <map>
#include <string>

#include "lib/core/checkpoint.h"

namespace zoo {

struct SafetensorsFile {
  NamedTensors tensors;  // on the CPU, in the file's dtypes
  std::map<std::string, std::string> metadata;
};

// Error naming the file and what is wrong with it (missing, unreadable, a header that lies).
SafetensorsFile read_safetensors(const std::string& path);

// Writes `tensors` (made contiguous, on the CPU) with `metadata`, larger items first so every
// tensor starts aligned to its item size; replaced atomically. Error for a dtype the format
// lacks (complex) or a failed write.
void write_safetensors(const std::string& path, const NamedTensors& tensors, const std::map<std::string, std::string>& metadata);

}  // namespace zoo
