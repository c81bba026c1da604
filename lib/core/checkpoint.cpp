#include "lib/core/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "lib/core/error.h"
#include "lib/core/runtime.h"

namespace fs = std::filesystem;

namespace zoo {

NamedTensors state_dict(const torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) out[item.key()] = item.value();
  for (const auto& item : module.named_buffers(/*recurse=*/true)) out[item.key()] = item.value();
  return out;
}

static std::string shape_str(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

std::vector<std::string> load_state_dict(torch::nn::Module& module, const NamedTensors& tensors,
                                         const std::string& source,
                                         const std::vector<std::string>& skippable_prefixes) {
  auto skippable = [&](const std::string& name) {
    for (const auto& p : skippable_prefixes)
      if (name.rfind(p, 0) == 0) return true;
    return false;
  };
  NamedTensors own = state_dict(module);
  for (const auto& [name, tensor] : tensors)
    if (!own.count(name)) throw Error(source + ": unexpected tensor '" + name + "' (the model has no such parameter or buffer)");
  std::vector<std::string> skipped;
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : own) {
    auto found = tensors.find(name);
    if (found == tensors.end()) throw Error(source + ": missing tensor '" + name + "' " + shape_str(target));
    const torch::Tensor& value = found->second;
    if (value.sizes() != target.sizes()) {
      if (skippable(name)) {
        skipped.push_back(name);
        continue;
      }
      throw Error(source + ": tensor '" + name + "' has shape " + shape_str(value) + ", the model expects " +
                  shape_str(target));
    }
    target.copy_(value.to(target.dtype()));
  }
  return skipped;
}

namespace {

std::string errno_text(int error) { return std::strerror(error); }

// fsync a file or folder by path; fsync on a folder makes a rename inside it durable.
void sync_path(const std::string& path, const std::string& culprit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot write " + culprit + ": " + errno_text(errno));
  const int rc = ::fsync(fd), error = errno;
  ::close(fd);
  // Some file systems cannot sync folders (EINVAL); the rename itself is still atomic there.
  if (rc != 0 && error != EINVAL && error != EROFS) throw Error("cannot write " + culprit + ": " + errno_text(error));
}

std::string parent_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

void remove_quietly(const std::string& path) {
  std::error_code ignored;
  fs::remove(path, ignored);
}

std::string temporary_beside(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

}  // namespace

void write_atomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  const std::string tmp = temporary_beside(path);
  try {
    write(tmp);
    sync_path(tmp, path);
  } catch (const c10::Error& e) {
    remove_quietly(tmp);
    throw Error("cannot write " + path + ": " + first_line(e.what_without_backtrace()));
  } catch (...) {
    remove_quietly(tmp);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);  // atomic on one file system
  if (ec) {
    remove_quietly(tmp);
    throw Error("cannot write " + path + ": " + ec.message());
  }
  sync_path(parent_of(path), path);
}

void write_file_atomic(const std::string& path, const std::string& text) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw Error("cannot write " + path + (errno ? ": " + errno_text(errno) : std::string()));
  });
}

void link_atomically(const std::string& path, const std::string& link_path) {
  const std::string tmp = temporary_beside(link_path);
  remove_quietly(tmp);
  if (::link(path.c_str(), tmp.c_str()) != 0) {
    std::error_code ec;
    fs::copy_file(path, tmp, fs::copy_options::overwrite_existing, ec);  // file systems without hard links
    if (ec) {
      remove_quietly(tmp);
      throw Error("cannot write " + link_path + ": " + ec.message());
    }
    sync_path(tmp, link_path);
  }
  std::error_code ec;
  fs::rename(tmp, link_path, ec);
  if (ec) {
    remove_quietly(tmp);
    throw Error("cannot write " + link_path + ": " + ec.message());
  }
  sync_path(parent_of(link_path), link_path);
}

void remove_stale_temporaries(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const auto at = name.rfind(".tmp.");
    if (at == std::string::npos) continue;
    const std::string pid_text = name.substr(at + 5);
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::strtol(pid_text.c_str(), nullptr, 10);
    if (pid == ::getpid() || (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;  // its writer lives
    remove_quietly(entry.path().string());
  }
}

namespace {

constexpr int64_t kEndRecordSize = 22;  // a zip archive's end-of-central-directory record, without comment
constexpr uint32_t kEndRecordSignature = 0x06054b50u;
const char* const kSealPrefix = "zoo-checkpoint ";

// The byte sink LibTorch's archive writer streams into: it writes to `fd`, keeps a CRC-32 of
// everything written, and holds back the last 22 bytes (the end record) so that seal() can set
// the record's comment length before they reach the file. A write error (a full disk) is
// remembered and reported by the caller with its errno; LibTorch is told every write succeeded,
// because its zip writer, told otherwise, throws again from its destructor and aborts.
class SealingWriter {
 public:
  explicit SealingWriter(int fd) : fd_(fd), crc_(::crc32(0L, Z_NULL, 0)) {}

  size_t write(const void* data, size_t size) {
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

  // Writes the held end record with its comment length set, then the seal as the comment.
  void seal(int format) {
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

  int error() const { return error_; }
  int64_t written() const { return written_; }

 private:
  void put(const char* data, size_t size) {
    if (error_ || size == 0) return;
    crc_ = ::crc32_z(crc_, reinterpret_cast<const Bytef*>(data), size);
    while (size > 0) {
      const ssize_t n = ::write(fd_, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error_ = n < 0 ? errno : ENOSPC;
        return;
      }
      data += n, size -= static_cast<size_t>(n), written_ += n;
    }
  }

  int fd_;
  uLong crc_;
  std::string held_;
  int error_ = 0;
  int64_t written_ = 0;
};

}  // namespace

void save_checkpoint(const std::string& path, const CheckpointContent& content) {
  torch::serialize::OutputArchive archive;
  Json meta = content.meta;
  meta["format"] = kCheckpointFormat;
  archive.write("meta", c10::IValue(meta.dump()));
  c10::Dict<std::string, at::Tensor> weights;
  for (const auto& [name, tensor] : content.weights) weights.insert(name, tensor.detach().to(torch::kCPU));
  archive.write("weights", c10::IValue(weights));
  if (content.optimizer) {
    torch::serialize::OutputArchive optimizer_archive;
    content.optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  if (content.save_rng) {
    archive.write("rng", at::detail::getDefaultCPUGenerator().get_state());
    // Dropout and other random ops on a GPU draw from that device's generator.
    for (size_t i = 0; i < torch::cuda::device_count(); ++i)
      archive.write("rng_cuda" + std::to_string(i),
                    at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i))).get_state());
  }
  write_atomically(path, [&](const std::string& tmp) {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Error("cannot write " + path + ": " + errno_text(errno));
    SealingWriter writer(fd);
    const bool kill_midway = fault_injected("kill-during-save");
    auto sink = [&](const void* data, size_t size) {
      const size_t n = writer.write(data, size);
      // Fault injection (tests): die with a half-written temporary file on disk.
      if (kill_midway && writer.written() > 0) std::raise(SIGKILL);
      return n;
    };
    try {
      archive.save_to(sink);
      writer.seal(kCheckpointFormat);
    } catch (...) {
      ::close(fd);
      throw;
    }
    const int closed = ::close(fd);
    if (writer.error()) throw Error("cannot write " + path + ": " + errno_text(writer.error()));
    if (closed != 0) throw Error("cannot write " + path + ": " + errno_text(errno));
  });
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

CheckpointReader::CheckpointReader(const std::string& path) : path_(path) {
  if (!fs::exists(path)) throw Error("checkpoint not found: " + path);
  if (fs::is_directory(path)) throw Error("checkpoint " + path + " is a directory (expected a .ckpt file)");
  if (const std::string damage = zip_damage(path); !damage.empty())
    throw Error((damage.rfind("it was written by a newer", 0) == 0 ? "cannot read checkpoint " : "corrupt or unreadable checkpoint ") +
                path + ": " + damage);
  try {
    archive_.load_from(path);
    c10::IValue meta;
    if (!archive_.try_read("meta", meta) || !meta.isString()) throw Error("not a zoo checkpoint: " + path);
    meta_ = Json::parse(meta.toStringRef());
    c10::IValue weights;
    if (!archive_.try_read("weights", weights) || !weights.isGenericDict()) throw Error("not a zoo checkpoint (no weights): " + path);
    for (const auto& entry : weights.toGenericDict()) weights_[entry.key().toStringRef()] = entry.value().toTensor();
    torch::serialize::InputArchive nested;
    has_optimizer_ = archive_.try_read("optimizer", nested);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error("corrupt or unreadable checkpoint " + path + ": " + first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Error("corrupt or unreadable checkpoint " + path + ": " + first_line(e.what()));
  }
  if (!meta_.is_object() || !meta_.contains("task") || !meta_.contains("model"))
    throw Error("not a zoo checkpoint (meta lacks task/model): " + path);
  const int format = meta_.contains("format") && meta_.at("format").is_number_integer() ? meta_.at("format").get<int>() : 1;
  if (format > kCheckpointFormat)
    throw Error("cannot read checkpoint " + path + ": it was written by a newer zoo (checkpoint format " + std::to_string(format) +
                "; this build reads formats up to " + std::to_string(kCheckpointFormat) + ")");
  meta_.erase("format");
}

void CheckpointReader::load_optimizer(torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive nested;
  if (!archive_.try_read("optimizer", nested)) throw Error(path_ + " holds no optimizer state (a best.ckpt?); resume from last.ckpt");
  try {
    optimizer.load(nested);
  } catch (const c10::Error& e) {
    throw Error("cannot restore optimizer state from " + path_ + ": " + first_line(e.what_without_backtrace()));
  }
}

void CheckpointReader::restore_rng() {
  torch::Tensor state;
  if (archive_.try_read("rng", state)) {
    at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle to the global generator
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
  }
  for (size_t i = 0; i < torch::cuda::device_count(); ++i) {
    if (!archive_.try_read("rng_cuda" + std::to_string(i), state)) continue;
    at::Generator generator = at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i)));
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
  }
}

}  // namespace zoo
