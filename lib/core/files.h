// Reading whole files that may be gzip-compressed (Multi30k's .gz, CLIP's merges file).
#pragma once
#include <string>

namespace zoo {

// The bytes of `path`, decompressed when it is gzip (a plain file is read as it is). Error naming
// the file when it is missing, unreadable, or a truncated or corrupt gzip stream.
std::string read_maybe_gzip(const std::string& path);

}  // namespace zoo
