#include "lib/core/checkpoint_file.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "lib/core/error.h"

namespace zoo {

namespace {

constexpr int64_t kEndRecordSize = 22;  // a zip archive's end-of-central-directory record, without comment
constexpr uint32_t kEndRecordSignature = 0x06054b50u;
const char* const kSealPrefix = "zoo-checkpoint ";

}  // namespace

SealingWriter::SealingWriter(std::function<ssize_t(const char*, size_t)> sink) : sink_(std::move(sink)), crc_(::crc32(0L, Z_NULL, 0)) {}

size_t SealingWriter::write(const void* data, size_t size) {
  if (error_) return size;
  const char* bytes = static_cast<const char*>(data);
  if (held_.size() + size <= static_cast<size_t>(kEndRecordSize)) {
    held_.append(bytes, size);
    return size;
  }
  // Everything but the newest 22 bytes can go out now.
  const size_t from_held = std::min(held_.size(), held_.size() + size - kEndRecordSize);
  put(held_.data(), from_held);
  held_.erase(0, from_held);
  const size_t keep = kEndRecordSize - held_.size();
  put(bytes, size - keep);
  held_.append(bytes + size - keep, keep);
  return size;
}

void SealingWriter::seal(int format) {
  if (error_) return;
  auto u32 = [&](size_t at) { return uint32_t(uint8_t(held_[at])) | uint32_t(uint8_t(held_[at + 1])) << 8 |
                                     uint32_t(uint8_t(held_[at + 2])) << 16 | uint32_t(uint8_t(held_[at + 3])) << 24; };
  if (held_.size() != static_cast<size_t>(kEndRecordSize) || u32(0) != kEndRecordSignature || held_[20] != 0 || held_[21] != 0)
    throw Error("LibTorch's archive writer did not end with a plain end-of-central-directory record");
  const std::string prefix = kSealPrefix + std::to_string(format) + " crc32 ";
  const size_t comment_size = prefix.size() + 8;
  held_[20] = static_cast<char>(comment_size & 0xff), held_[21] = static_cast<char>(comment_size >> 8);
  put(held_.data(), held_.size());
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", static_cast<unsigned>(crc_));
  const std::string comment = prefix + hex;
  put(comment.data(), comment.size());
}

void SealingWriter::put(const char* data, size_t size) {
  if (error_ || size == 0) return;
  crc_ = ::crc32_z(crc_, reinterpret_cast<const Bytef*>(data), size);
  while (size > 0) {
    const ssize_t n = sink_(data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = n < 0 ? errno : ENOSPC;
      return;
    }
    data += n, size -= static_cast<size_t>(n), written_ += n;
  }
}

// A zip archive ends with its end-of-central-directory record (22 bytes + comment), which says
// where the central directory starts; a file cut short loses it, or keeps one that belongs to an
// archive nested inside (the optimizer state), whose offsets then point past the end. LibTorch
// 2.x's reader can crash on the latter, so such files are refused here first. A zoo seal in the
// comment adds the CRC-32 of everything before it.
std::string zip_damage(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "cannot open it";
  const int64_t size = in.tellg();
  constexpr int64_t kMaxComment = 65535;
  if (size < kEndRecordSize) return "it is " + std::to_string(size) + " bytes, too short for a zip archive";
  const int64_t tail_size = std::min<int64_t>(size, kEndRecordSize + kMaxComment);
  std::string tail(static_cast<size_t>(tail_size), '\0');
  in.seekg(size - tail_size);
  in.read(tail.data(), tail_size);
  auto u16 = [&](int64_t at) { return uint32_t(uint8_t(tail[at])) | uint32_t(uint8_t(tail[at + 1])) << 8; };
  auto u32 = [&](int64_t at) { return u16(at) | u16(at + 2) << 16; };
  for (int64_t at = tail_size - kEndRecordSize; at >= 0; --at) {
    if (u32(at) != kEndRecordSignature) continue;
    const int64_t comment_size = u16(at + 20);
    if (at + kEndRecordSize + comment_size != tail_size) continue;  // its comment must end the file
    const int64_t record_offset = size - tail_size + at;
    const uint32_t directory_size = u32(at + 12), directory_offset = u32(at + 16);
    if (directory_offset != 0xFFFFFFFFu && int64_t(directory_offset) + int64_t(directory_size) > record_offset)
      return "its central directory points past the end of the file (truncated?)";
    const std::string comment = tail.substr(static_cast<size_t>(at + kEndRecordSize));
    if (comment.rfind(kSealPrefix, 0) != 0) return "";  // no seal: a format-1 checkpoint or a TorchScript file
    int format = 0;
    unsigned expected = 0;
    if (std::sscanf(comment.c_str() + std::strlen(kSealPrefix), "%d crc32 %8x", &format, &expected) != 2)
      return "its seal '" + comment + "' is unreadable";
    if (format > kCheckpointFormat)
      return "it was written by a newer zoo (checkpoint format " + std::to_string(format) + "; this build reads formats up to " +
             std::to_string(kCheckpointFormat) + ")";
    // The CRC-32 of every byte before the comment.
    in.clear();
    in.seekg(0);
    std::vector<char> buffer(1 << 20);
    uLong crc = ::crc32(0L, Z_NULL, 0);
    for (int64_t left = size - comment_size; left > 0;) {
      const auto chunk = static_cast<std::streamsize>(std::min<int64_t>(left, static_cast<int64_t>(buffer.size())));
      if (!in.read(buffer.data(), chunk)) return "cannot read it";
      crc = ::crc32_z(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<size_t>(chunk));
      left -= chunk;
    }
    if (static_cast<unsigned>(crc) != expected) {
      char text[96];
      std::snprintf(text, sizeof(text), "its CRC-32 is %08x, its seal says %08x (the file is damaged)", static_cast<unsigned>(crc), expected);
      return text;
    }
    return "";
  }
  return "no end-of-archive record (truncated, or not a checkpoint)";
}

Json parse_checkpoint_meta(const std::string& text, const std::string& path) {
  Json meta;
  try {
    meta = Json::parse(text);
  } catch (const std::exception& e) {
    throw Error("corrupt or unreadable checkpoint " + path + ": its meta record is not JSON (" + first_line(e.what()) + ")");
  }
  if (!meta.is_object() || !meta.contains("task") || !meta.contains("model") || !meta.at("task").is_string() ||
      !meta.at("model").is_string())
    throw Error("not a zoo checkpoint (its meta names no task and model): " + path);
  int format = 1;
  if (meta.contains("format")) {
    if (!meta.at("format").is_number_integer()) throw Error("corrupt or unreadable checkpoint " + path + ": its format is not a number");
    format = meta.at("format").get<int>();
  }
  if (format > kCheckpointFormat)
    throw Error("cannot read checkpoint " + path + ": it was written by a newer zoo (checkpoint format " + std::to_string(format) +
                "; this build reads formats up to " + std::to_string(kCheckpointFormat) + ")");
  meta.erase("format");
  return meta;
}

}  // namespace zoo
