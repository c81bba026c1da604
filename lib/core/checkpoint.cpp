#include "lib/core/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>

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

// When process `pid` started, in seconds since the epoch (from /proc); nullopt if unknown.
std::optional<double> process_start_seconds(long pid) {
  std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
  std::string stat_line;
  if (!std::getline(stat_file, stat_line)) return std::nullopt;
  // Field 22, starttime in clock ticks since boot, counted after the command name's ')'.
  const auto name_end = stat_line.rfind(')');
  if (name_end == std::string::npos) return std::nullopt;
  std::istringstream fields(stat_line.substr(name_end + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i)
    if (i == 22) {
      std::ifstream system_stat("/proc/stat");
      std::string key;
      long long boot_seconds = 0;
      while (system_stat >> key)
        if (key == "btime" && system_stat >> boot_seconds) break;
      if (boot_seconds == 0) return std::nullopt;
      return static_cast<double>(boot_seconds) + std::strtod(field.c_str(), nullptr) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
  return std::nullopt;
}

// Whether the process that wrote `file` (NAME.tmp.PID) may still be writing it. A live process
// with that pid is the writer unless it started after the file's last change (the pid was reused;
// ctime, which a hard link also moves, and not mtime, which a link keeps from the linked file).
bool writer_may_live(long pid, const std::string& file) {
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  struct stat file_stat {};
  if (::stat(file.c_str(), &file_stat) != 0) return true;
  const auto started = process_start_seconds(pid);
  // btime has whole seconds: a margin of 2 s keeps a writer that just started alive.
  return !started || *started <= static_cast<double>(file_stat.st_ctime) + 2.0;
}

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
  // rename(2) of one hard link over another of the same file succeeds and does nothing: link_path
  // already pointed at path, and tmp is still there.
  remove_quietly(tmp);
  if (ec) throw Error("cannot write " + link_path + ": " + ec.message());
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
    if (pid == ::getpid() || writer_may_live(pid, entry.path().string())) continue;
    remove_quietly(entry.path().string());
  }
}


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
  if (!content.task_state.empty()) {
    c10::Dict<std::string, at::Tensor> task_state;
    for (const auto& [name, tensor] : content.task_state) task_state.insert(name, tensor.detach().to(torch::kCPU));
    archive.write("task_state", c10::IValue(task_state));
  }
  write_atomically(path, [&](const std::string& tmp) {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Error("cannot write " + path + ": " + errno_text(errno));
    SealingWriter writer([fd](const char* data, size_t size) { return ::write(fd, data, size); });
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
    meta_ = parse_checkpoint_meta(meta.toStringRef(), path);
    c10::IValue weights;
    if (!archive_.try_read("weights", weights) || !weights.isGenericDict()) throw Error("not a zoo checkpoint (no weights): " + path);
    for (const auto& entry : weights.toGenericDict()) weights_[entry.key().toStringRef()] = entry.value().toTensor();
    c10::IValue task_state;
    if (archive_.try_read("task_state", task_state) && task_state.isGenericDict())
      for (const auto& entry : task_state.toGenericDict()) task_state_[entry.key().toStringRef()] = entry.value().toTensor();
    torch::serialize::InputArchive nested;
    has_optimizer_ = archive_.try_read("optimizer", nested);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error("corrupt or unreadable checkpoint " + path + ": " + first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Error("corrupt or unreadable checkpoint " + path + ": " + first_line(e.what()));
  }
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
