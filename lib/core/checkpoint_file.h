// The checkpoint file format below LibTorch, with no LibTorch in it (so it can be fuzzed alone):
// the seal a checkpoint ends with, the check of a file against it, and the meta record's
// validation. lib/core/checkpoint.h builds checkpoints on top; docs/RELIABILITY.md describes it.
//
// A checkpoint is a zip archive whose comment (the file's last bytes) is the seal
//   "zoo-checkpoint FORMAT crc32 XXXXXXXX"
// with the CRC-32 of every byte before the comment.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "lib/core/options.h"

namespace zoo {

// The checkpoint format this build writes, and the newest it reads.
constexpr int kCheckpointFormat = 2;

// The byte sink a zip writer streams into: it passes the bytes on to `sink`, keeps their CRC-32,
// and holds back the last 22 (the zip end record) so that seal() can set the record's comment
// length before they go out. A write error (a full disk) is remembered for the caller to report
// with its errno; write() still reports success, because LibTorch's zip writer, told otherwise,
// throws again from its destructor and aborts.
class SealingWriter {
 public:
  // `sink` writes like ::write: returns the bytes it took, or -1 with errno set.
  explicit SealingWriter(std::function<ssize_t(const char*, size_t)> sink);
  size_t write(const void* data, size_t size);
  // Writes the held end record with its comment length set, then the seal as the comment.
  void seal(int format);
  int error() const { return error_; }      // errno of the first failed write, 0 if none
  int64_t written() const { return written_; }

 private:
  void put(const char* data, size_t size);

  std::function<ssize_t(const char*, size_t)> sink_;
  unsigned long crc_;
  std::string held_;
  int error_ = 0;
  int64_t written_ = 0;
};

// Why the zip archive at path (a checkpoint or TorchScript file) is damaged, or "" if its
// end-of-archive record is intact and consistent and, where it carries a zoo seal, its CRC-32
// matches and its format is one this build reads.
std::string zip_damage(const std::string& path);

// The meta record of a checkpoint: a JSON object with string "task" and "model" and a format
// this build reads ("format" is removed). Errors name `path`.
Json parse_checkpoint_meta(const std::string& text, const std::string& path);

}  // namespace zoo
