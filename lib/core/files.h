// Reading whole files: as they are, or decompressed when gzip (Multi30k's .gz, CLIP's merges file).
#pragma once
#include <string>

namespace zoo {

// The bytes of `path`, decompressed when it is gzip (a plain file is read as it is). Error naming
// the file when it is missing, unreadable, or a truncated or corrupt gzip stream.
std::string read_maybe_gzip(const std::string& path);

// The bytes of `path` as they are (a binary format: safetensors, event files, PNG). Error naming
// the file when it is missing or unreadable.
std::string read_file(const std::string& path);

}  // namespace zoo
