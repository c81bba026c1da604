#include "lib/export/safetensors_format.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "lib/core/error.h"

namespace zoo::safetensors {

namespace {

constexpr uint64_t kMaxHeader = 100'000'000;  // the reference reader's limit

uint64_t read_u64(const std::string& bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[static_cast<size_t>(i)])) << (8 * i);
  return value;
}

// A JSON value as a non-negative integer that fits in 63 bits, or an Error naming `what`.
uint64_t count(const nlohmann::json& value, const std::string& what) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return static_cast<uint64_t>(value.get<int64_t>());
  throw Error(what + " is not a non-negative integer: " + value.dump().substr(0, 40));
}

}  // namespace

size_t dtype_size(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes{{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                                                   {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

Header parse_header(const std::string& bytes, const std::string& name) {
  const std::string where = name + ": ";
  if (bytes.size() < 8) throw Error(where + "not a safetensors file (" + std::to_string(bytes.size()) + " bytes, no 8-byte header length)");
  const uint64_t length = read_u64(bytes);
  if (length > kMaxHeader) throw Error(where + "the header length " + std::to_string(length) + " is over safetensors' 100 MB limit (not a safetensors file?)");
  if (length > bytes.size() - 8)
    throw Error(where + "the header length " + std::to_string(length) + " runs past the end of the file (" + std::to_string(bytes.size()) + " bytes)");
  const std::string text = bytes.substr(8, length);
  if (text.empty() || text.front() != '{') throw Error(where + "the header does not start with '{' (not a safetensors file?)");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + "the header is not valid JSON: " + first_line(e.what()));
  }
  if (!json.is_object()) throw Error(where + "the header is not a JSON object");
  Header header;
  header.data_start = 8 + length;
  const uint64_t data_size = bytes.size() - header.data_start;
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string key = it.key();
    const auto& value = it.value();
    if (key == "__metadata__") {
      if (!value.is_object()) throw Error(where + "__metadata__ is not an object of texts");
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (!m.value().is_string()) throw Error(where + "__metadata__ \"" + m.key() + "\" is not a text");
        header.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string tensor = where + "tensor \"" + key + "\" ";
    if (!value.is_object()) throw Error(tensor + "is not an object with dtype, shape and data_offsets");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!value.contains(field)) throw Error(tensor + "has no " + field);
    Entry entry;
    entry.name = key;
    if (!value.at("dtype").is_string()) throw Error(tensor + "has a dtype that is not a text");
    entry.dtype = value.at("dtype").get<std::string>();
    const size_t item = dtype_size(entry.dtype);
    if (item == 0) throw Error(tensor + "has dtype " + entry.dtype + ", which zoo does not read (F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
    if (!value.at("shape").is_array()) throw Error(tensor + "has a shape that is not a list");
    // numel x item size, refusing what overflows 64 bits (a lying shape).
    uint64_t expected = item;
    for (const auto& dim : value.at("shape")) {
      const uint64_t size = count(dim, tensor + "shape entry");
      if (size > static_cast<uint64_t>(INT64_MAX)) throw Error(tensor + "has a dimension too large");
      entry.shape.push_back(static_cast<int64_t>(size));
      if (size != 0 && expected > UINT64_MAX / size) throw Error(tensor + "has a shape whose size overflows");
      expected *= size;
    }
    const auto& offsets = value.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2) throw Error(tensor + "data_offsets is not [BEGIN, END]");
    entry.begin = count(offsets[0], tensor + "data_offsets BEGIN");
    entry.end = count(offsets[1], tensor + "data_offsets END");
    if (entry.begin > entry.end) throw Error(tensor + "ends before it begins (data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) + "])");
    if (entry.end > data_size)
      throw Error(tensor + "runs past the end of the data (data_offsets end " + std::to_string(entry.end) + ", " + std::to_string(data_size) + " bytes of data)");
    if (entry.end - entry.begin != expected)
      throw Error(tensor + "holds " + std::to_string(entry.end - entry.begin) + " bytes, but its " + entry.dtype + " shape needs " + std::to_string(expected));
    header.entries.push_back(std::move(entry));
  }
  // The tensors tile the data: sorted by offset, each begins where the last ended.
  std::sort(header.entries.begin(), header.entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  for (size_t i = 0; i < header.entries.size(); ++i) {
    const Entry& e = header.entries[i];
    if (e.begin < at) throw Error(where + "tensor \"" + e.name + "\" overlaps \"" + header.entries[i - 1].name + "\"");
    if (e.begin > at) throw Error(where + "a gap of " + std::to_string(e.begin - at) + " bytes before tensor \"" + e.name + "\"");
    at = e.end;
  }
  if (at != data_size) throw Error(where + std::to_string(data_size - at) + " bytes after the last tensor (the header does not describe them)");
  return header;
}

std::string header_bytes(std::vector<Entry>& entries, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  if (!metadata.empty()) json["__metadata__"] = metadata;
  uint64_t at = 0;
  for (auto& e : entries) {
    uint64_t numel = 1;
    for (int64_t d : e.shape) numel *= static_cast<uint64_t>(d);
    e.begin = at, e.end = at + numel * dtype_size(e.dtype);
    at = e.end;
    json[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {e.begin, e.end}}};
  }
  std::string text = json.dump();
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  return out + text;
}

}  // namespace zoo::safetensors
