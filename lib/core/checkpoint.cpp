#include "lib/core/checkpoint.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "lib/core/error.h"

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

void write_atomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    write(tmp);
  } catch (const c10::Error& e) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw Error("cannot write " + path + ": " + first_line(e.what_without_backtrace()));
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);  // atomic on one file system
  if (ec) throw Error("cannot write " + path + ": " + ec.message());
}

void write_file_atomic(const std::string& path, const std::string& text) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw Error("cannot write " + path);
  });
}

void save_checkpoint(const std::string& path, const CheckpointContent& content) {
  torch::serialize::OutputArchive archive;
  archive.write("meta", c10::IValue(content.meta.dump()));
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
  write_atomically(path, [&](const std::string& tmp) { archive.save_to(tmp); });
}

// A zip archive ends with its end-of-central-directory record (22 bytes + comment), which says
// where the central directory starts; a file cut short loses it, or keeps one that belongs to an
// archive nested inside (the optimizer state), whose offsets then point past the end. LibTorch
// 2.x's reader can crash on the latter, so such files are refused here first.
std::string zip_damage(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "cannot open it";
  const int64_t size = in.tellg();
  constexpr int64_t kRecord = 22, kMaxComment = 65535;
  if (size < kRecord) return "it is " + std::to_string(size) + " bytes, too short for a zip archive";
  const int64_t tail_size = std::min<int64_t>(size, kRecord + kMaxComment);
  std::string tail(static_cast<size_t>(tail_size), '\0');
  in.seekg(size - tail_size);
  in.read(tail.data(), tail_size);
  auto u16 = [&](int64_t at) { return uint32_t(uint8_t(tail[at])) | uint32_t(uint8_t(tail[at + 1])) << 8; };
  auto u32 = [&](int64_t at) { return u16(at) | u16(at + 2) << 16; };
  for (int64_t at = tail_size - kRecord; at >= 0; --at) {
    if (u32(at) != 0x06054b50u) continue;
    if (at + kRecord + int64_t(u16(at + 20)) != tail_size) continue;  // its comment must end the file
    const int64_t record_offset = size - tail_size + at;
    const uint32_t directory_size = u32(at + 12), directory_offset = u32(at + 16);
    if (directory_offset == 0xFFFFFFFFu) return "";  // zip64: the record before it holds the offsets
    if (int64_t(directory_offset) + int64_t(directory_size) > record_offset)
      return "its central directory points past the end of the file (truncated?)";
    return "";
  }
  return "no end-of-archive record (truncated, or not a checkpoint)";
}

CheckpointReader::CheckpointReader(const std::string& path) : path_(path) {
  if (!fs::exists(path)) throw Error("checkpoint not found: " + path);
  if (fs::is_directory(path)) throw Error("checkpoint " + path + " is a directory (expected a .ckpt file)");
  if (const std::string damage = zip_damage(path); !damage.empty())
    throw Error("corrupt or unreadable checkpoint " + path + ": " + damage);
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
