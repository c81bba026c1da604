#include "lib/core/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>

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
