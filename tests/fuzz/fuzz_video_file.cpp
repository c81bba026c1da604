// Fuzz target: a video file as zoo reads one (data/video_file.h): OpenCV's FFmpeg demuxers and
// decoders behind read_video_frames, the frame count they claim, frames that change size, and the
// fallback to decoding the whole file. The first byte picks the container the name suggests (mp4,
// avi, webm, mkv); the rest is the file. A decoded clip must hold the frames asked for, all of one
// size; anything else must be a zoo::Error.
#include "data/video_file.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  if (size < 1) return 0;
  static const char* names[] = {"clip.mp4", "clip.avi", "clip.webm", "clip.mkv"};
  const std::string path = fuzz::write_scratch(names[data[0] % 4], data + 1, size - 1);
  fuzz::expect_only_zoo_errors([&] {
    const data::FramePicker pick = [](int64_t n) { return data::clip_frame_indices(n, 4, 2, nullptr); };
    const auto frames = data::read_video_frames(path, pick);
    if (frames.size() != 4) __builtin_trap();
    for (const auto& frame : frames)
      if (frame.size() != frames[0].size() || frame.type() != CV_8UC3) __builtin_trap();
  });
  return 0;
}
