#include "lib/export/safetensors.h"

#include <cstring>

#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/export/safetensors_format.h"

namespace zoo {

namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; this reader copies it as it is");

const std::map<std::string, torch::ScalarType>& dtypes() {
  static const std::map<std::string, torch::ScalarType> map{
      {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16}, {"I64", torch::kInt64},
      {"I32", torch::kInt32},   {"I16", torch::kInt16},   {"I8", torch::kInt8},     {"U8", torch::kUInt8},      {"BOOL", torch::kBool}};
  return map;
}

std::string dtype_name(torch::ScalarType type) {
  for (const auto& [name, t] : dtypes())
    if (t == type) return name;
  throw Error(std::string("safetensors has no dtype for ") + c10::toString(type));
}

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  const std::string bytes = read_file(path);
  const safetensors::Header header = safetensors::parse_header(bytes, path);
  SafetensorsFile file;
  file.metadata = header.metadata;
  for (const auto& entry : header.entries) {
    torch::Tensor tensor = torch::empty(entry.shape, torch::TensorOptions().dtype(dtypes().at(entry.dtype)));
    if (entry.end > entry.begin) std::memcpy(tensor.data_ptr(), bytes.data() + header.data_start + entry.begin, entry.end - entry.begin);
    if (entry.dtype == "BOOL" && tensor.numel() > 0 && tensor.view(torch::kUInt8).gt(1).any().item<bool>())
      throw Error(path + ": tensor \"" + entry.name + "\" is BOOL but holds bytes other than 0 and 1");
    file.tensors[entry.name] = tensor;
  }
  return file;
}

void write_safetensors(const std::string& path, const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  std::vector<safetensors::Entry> entries;
  std::map<std::string, torch::Tensor> data;
  for (const auto& [name, tensor] : tensors) {
    data[name] = tensor.detach().to(torch::kCPU).contiguous();
    entries.push_back({name, dtype_name(tensor.scalar_type()), tensor.sizes().vec()});
  }
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return safetensors::dtype_size(a.dtype) > safetensors::dtype_size(b.dtype);
  });
  std::string bytes = safetensors::header_bytes(entries, metadata);
  for (const auto& entry : entries) {
    const torch::Tensor& t = data.at(entry.name);
    bytes.append(static_cast<const char*>(t.data_ptr()), entry.end - entry.begin);
  }
  write_file_atomic(path, bytes);
}

}  // namespace zoo
