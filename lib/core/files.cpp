#include "lib/core/files.h"

#include <zlib.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lib/core/error.h"

namespace zoo {

std::string read_maybe_gzip(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw Error("file not found: " + path);
  gzFile file = gzopen(path.c_str(), "rb");  // reads plain files as they are
  if (!file) throw Error("cannot open " + path);
  std::string content;
  std::array<char, 1 << 16> buffer;
  int got = 0;
  while ((got = gzread(file, buffer.data(), static_cast<unsigned>(buffer.size()))) > 0) content.append(buffer.data(), got);
  int status = Z_OK;
  const char* message = got < 0 ? gzerror(file, &status) : nullptr;
  const std::string why = message ? message : "";
  // gzclose reports a stream that ended mid-way (Z_BUF_ERROR): a truncated .gz.
  const int closed = gzclose(file);
  if (got < 0) throw Error("cannot read " + path + ": " + why + " (truncated or corrupt gzip?)");
  if (closed != Z_OK) throw Error("cannot read " + path + ": the gzip stream is truncated or corrupt");
  return content;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) throw Error("cannot read " + path);
  return bytes.str();
}

}  // namespace zoo
