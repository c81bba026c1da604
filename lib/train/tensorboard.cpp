#include "lib/train/tensorboard.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <map>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/files.h"
#ifdef ZOO_TENSORBOARD
#include "tensorboard_event.pb.h"
#endif

namespace fs = std::filesystem;

namespace zoo::tensorboard {

namespace {

// The reflected Castagnoli polynomial 0x1EDC6F41.
std::array<uint32_t, 256> crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? 0x82F63B78u : 0u);
    table[i] = crc;
  }
  return table;
}

uint32_t mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

template <typename T>
std::string little_endian(T value) {
  std::string out(sizeof(T), '\0');
  for (size_t i = 0; i < sizeof(T); ++i) out[i] = static_cast<char>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff);
  return out;
}

template <typename T>
T read_little_endian(const std::string& bytes, size_t at) {
  uint64_t value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return static_cast<T>(value);
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t crc32c(const std::string& bytes) {
  static const auto table = crc32c_table();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) crc = table[(crc ^ byte) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const std::string& bytes) { return mask(crc32c(bytes)); }

std::string frame_record(const std::string& data) {
  const std::string length = little_endian<uint64_t>(data.size());
  return length + little_endian<uint32_t>(masked_crc32c(length)) + data + little_endian<uint32_t>(masked_crc32c(data));
}

RecordScan scan_records(const std::string& bytes) {
  RecordScan scan;
  size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < 12) {
      scan.problem = "a record header torn at byte " + std::to_string(at);
      break;
    }
    const std::string length_bytes = bytes.substr(at, 8);
    if (read_little_endian<uint32_t>(bytes, at + 8) != masked_crc32c(length_bytes)) {
      scan.problem = "the length CRC of the record at byte " + std::to_string(at) + " does not match";
      break;
    }
    const uint64_t length = read_little_endian<uint64_t>(bytes, at);
    if (length > bytes.size() - at - 12 || bytes.size() - at - 12 - length < 4) {
      scan.problem = "the record at byte " + std::to_string(at) + " is torn (" + std::to_string(length) + " bytes announced)";
      break;
    }
    std::string data = bytes.substr(at + 12, length);
    if (read_little_endian<uint32_t>(bytes, at + 12 + length) != masked_crc32c(data)) {
      scan.problem = "the data CRC of the record at byte " + std::to_string(at) + " does not match";
      break;
    }
    scan.records.push_back(std::move(data));
    at += 12 + length + 4;
    scan.intact_bytes = at;
  }
  return scan;
}

bool available() {
#ifdef ZOO_TENSORBOARD
  return true;
#else
  return false;
#endif
}

#ifdef ZOO_TENSORBOARD
std::optional<EventRecord> parse_event(const std::string& record) {
  Event event;
  if (!event.ParseFromString(record)) return std::nullopt;
  EventRecord out;
  out.wall_time = event.wall_time();
  out.step = event.step();
  if (event.has_file_version()) out.file_version = event.file_version();
  if (event.has_summary()) {
    for (const auto& value : event.summary().value()) {
      if (value.has_simple_value()) out.scalars.emplace_back(value.tag(), value.simple_value());
      else if (value.has_image()) out.image_tags.push_back(value.tag());
      else if (value.has_tensor() && value.metadata().plugin_data().plugin_name() == "text") out.text_tags.push_back(value.tag());
    }
  }
  return out;
}
#else
std::optional<EventRecord> parse_event(const std::string& record) { return std::nullopt; }
#endif

std::vector<std::string> event_files(const std::string& folder) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find("tfevents") != std::string::npos && name.find(".tmp") == std::string::npos && entry.is_regular_file(ec))
      files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::pair<std::string, std::vector<ScalarPoint>>> read_scalars(const std::string& folder) {
  std::map<std::string, std::map<int64_t, double>> by_tag;
  for (const auto& path : event_files(folder)) {
    for (const auto& record : scan_records(read_file(path)).records) {
      const auto event = parse_event(record);
      if (!event) continue;
      for (const auto& [tag, value] : event->scalars) by_tag[tag][event->step] = value;
    }
  }
  std::vector<std::pair<std::string, std::vector<ScalarPoint>>> out;
  for (const auto& [tag, points] : by_tag) {
    auto& series = out.emplace_back(tag, std::vector<ScalarPoint>{}).second;
    for (const auto& [step, value] : points) series.push_back({step, value});
  }
  return out;
}

#ifdef ZOO_TENSORBOARD
EventWriter::EventWriter(const std::string& folder, std::optional<int64_t> resumed_step) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw Error("cannot create " + folder + ": " + ec.message());
  remove_stale_temporaries(folder);  // a rewrite below that an earlier attempt did not finish
  const auto existing = event_files(folder);
  std::string kept;
  if (resumed_step && !existing.empty()) {
    path_ = existing.back();
    // The records up to the resumed step, written back whole before appending.
    const RecordScan scan = scan_records(read_file(path_));
    for (const auto& record : scan.records) {
      const auto event = parse_event(record);
      if (event && event->step <= *resumed_step) kept += frame_record(record);
    }
    // Replaced by rename, so a kill now leaves the old file or the new one, never half of it.
    if (kept.size() != scan.intact_bytes || !scan.problem.empty()) write_file_atomic(path_, kept);
  } else {
    for (const auto& old : existing) fs::remove(old, ec);
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    char name[400];
    std::snprintf(name, sizeof(name), "events.out.tfevents.%lld.%s.zoo", static_cast<long long>(now_seconds()), host);
    path_ = (fs::path(folder) / name).string();
  }
  file_.open(path_, std::ios::binary | std::ios::app);
  if (!file_) throw Error("cannot write " + path_);
  if (kept.empty()) {
    Event event;
    event.set_wall_time(now_seconds());
    event.set_file_version("brain.Event:2");
    append(event.SerializeAsString());
    flush();
  }
}

void EventWriter::append(const std::string& event) {
  file_ << frame_record(event);
  if (!file_) throw Error("cannot write " + path_ + " (disk full?)");
}

void EventWriter::flush() {
  file_.flush();
  if (!file_) throw Error("cannot write " + path_ + " (disk full?)");
}

void EventWriter::scalar(const std::string& tag, int64_t step, double value) {
  Event event;
  event.set_wall_time(now_seconds());
  event.set_step(step);
  auto* entry = event.mutable_summary()->add_value();
  entry->set_tag(tag);
  entry->set_simple_value(static_cast<float>(value));
  append(event.SerializeAsString());
}

void EventWriter::image_png(const std::string& tag, int64_t step, const std::string& png, int height, int width) {
  Event event;
  event.set_wall_time(now_seconds());
  event.set_step(step);
  auto* entry = event.mutable_summary()->add_value();
  entry->set_tag(tag);
  auto* image = entry->mutable_image();
  image->set_height(height);
  image->set_width(width);
  image->set_colorspace(3);
  image->set_encoded_image_string(png);
  append(event.SerializeAsString());
}

void EventWriter::text(const std::string& tag, int64_t step, const std::string& markdown) {
  Event event;
  event.set_wall_time(now_seconds());
  event.set_step(step);
  auto* entry = event.mutable_summary()->add_value();
  entry->set_tag(tag);
  entry->mutable_metadata()->mutable_plugin_data()->set_plugin_name("text");
  auto* tensor = entry->mutable_tensor();
  tensor->set_dtype(DT_STRING);
  tensor->mutable_tensor_shape()->add_dim()->set_size(1);
  tensor->add_string_val(markdown);
  append(event.SerializeAsString());
}
#else
EventWriter::EventWriter(const std::string& folder, std::optional<int64_t> resumed_step) {
  throw Error("this zoo was built without protobuf, so it writes no TensorBoard event files (pass --no-tensorboard)");
}
void EventWriter::append(const std::string&) {}
void EventWriter::flush() {}
void EventWriter::scalar(const std::string&, int64_t, double) {}
void EventWriter::image_png(const std::string&, int64_t, const std::string&, int, int) {}
void EventWriter::text(const std::string&, int64_t, const std::string&) {}
#endif

}  // namespace zoo::tensorboard
