// The safetensors format (huggingface/safetensors), without LibTorch: an 8-byte little-endian
// header length N, N bytes of JSON
//   {"__metadata__": {"KEY": "TEXT", ...}, "NAME": {"dtype": "F32", "shape": [2, 3],
//    "data_offsets": [BEGIN, END]}, ...}
// (padded with spaces), then the data: each tensor's bytes row-major and little-endian at
// [BEGIN, END) of it. The checks are the reference reader's: the header within the file and
// under 100 MB, a JSON object, known dtypes, END - BEGIN = numel x item size, and the tensors
// tiling the data exactly (no overlap, no gap, nothing after the last).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace zoo::safetensors {

struct Entry {
  std::string name;
  std::string dtype;  // F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets into the data
};

struct Header {
  std::vector<Entry> entries;  // in the order of their data
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;     // 8 + N
};

// Bytes per element of a dtype name; 0 for a name the format does not have (or zoo does not read).
size_t dtype_size(const std::string& dtype);

// The header of a whole file's bytes, checked; Error naming `name` and what is wrong.
Header parse_header(const std::string& bytes, const std::string& name);

// The length and header of `entries` (their offsets set here, in the given order from 0) with
// `metadata`, padded with spaces so that the data starts 8-byte aligned.
std::string header_bytes(std::vector<Entry>& entries, const std::map<std::string, std::string>& metadata);

}  // namespace zoo::safetensors
