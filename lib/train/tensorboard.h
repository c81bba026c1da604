// TensorBoard's event files, written and read without TensorFlow: TFRecord framing (length,
// masked CRC-32C of the length, data, masked CRC-32C of the data) around Event protocol buffers
// (lib/train/proto/tensorboard_event.proto, TensorBoard's field numbers). The trainer writes
// OUT/tb/events.out.tfevents.*; `zoo plot` reads its scalars back.
#pragma once
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace zoo::tensorboard {

// Whether this build writes and parses events (it was built with protobuf).
bool available();

// CRC-32C (Castagnoli), and TFRecord's masked form of it: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t crc32c(const std::string& bytes);
uint32_t masked_crc32c(const std::string& bytes);

// One TFRecord: uint64 length, uint32 masked CRC of those 8 bytes, the data, uint32 masked CRC
// of the data (all little-endian).
std::string frame_record(const std::string& data);

// The records of a TFRecord byte string, read while they are whole and their CRCs hold.
struct RecordScan {
  std::vector<std::string> records;
  size_t intact_bytes = 0;  // the length of the prefix that holds them
  std::string problem;      // what ended the reading before the end ("" when nothing did)
};
RecordScan scan_records(const std::string& bytes);

// What zoo reads back of one Event record.
struct EventRecord {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;                                  // the first record's "brain.Event:2"
  std::vector<std::pair<std::string, float>> scalars;        // tag, simple_value
  std::vector<std::string> image_tags, text_tags;
};
// nullopt when `record` is not an Event.
std::optional<EventRecord> parse_event(const std::string& record);

// A scalar series point of a run.
struct ScalarPoint {
  int64_t step = 0;
  double value = 0;
};
// Every scalar of the event files in `folder` by tag, in step order (the newest value of a step
// wins); a damaged record ends its file's reading. Empty when the folder has no event file.
std::vector<std::pair<std::string, std::vector<ScalarPoint>>> read_scalars(const std::string& folder);

// The event files in `folder` (names holding "tfevents"), oldest name first.
std::vector<std::string> event_files(const std::string& folder);

// Appends events to one file of `folder`. A new run starts a new file (any older ones in the
// folder are removed: they belong to a run this one replaces). A resumed run (`resumed_step`)
// continues the newest file: its records past that step are dropped first (a run killed after
// logging them but before saving logs them again), as is a record torn by the kill, so no step
// appears twice. Error naming the file when it cannot be written.
class EventWriter {
 public:
  EventWriter(const std::string& folder, std::optional<int64_t> resumed_step);
  void scalar(const std::string& tag, int64_t step, double value);
  // A PNG (its height and width in pixels, 3 channels) as an image summary.
  void image_png(const std::string& tag, int64_t step, const std::string& png, int height, int width);
  // Markdown as the text plugin shows it (a DT_STRING tensor of shape [1]).
  void text(const std::string& tag, int64_t step, const std::string& markdown);
  void flush();
  const std::string& path() const { return path_; }

 private:
  void append(const std::string& event);
  std::string path_;
  std::ofstream file_;
};

}  // namespace zoo::tensorboard
