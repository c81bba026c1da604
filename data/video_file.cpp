#include "data/video_file.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgproc.hpp>
#ifdef ZOO_VIDEOIO
#include <opencv2/videoio.hpp>
#endif

#include "lib/core/error.h"

namespace fs = std::filesystem;

namespace zoo::data {

std::vector<int64_t> clip_frame_indices(int64_t n, int64_t frames, int64_t stride, Rng* rng) {
  if (frames < 1 || stride < 1) throw UsageError("a clip needs at least one frame and a stride of at least 1");
  if (n < frames) throw Error("has " + std::to_string(n) + " frame" + (n == 1 ? "" : "s") + ", fewer than the clip's " + std::to_string(frames));
  // The largest stride <= the requested one whose span fits in the video.
  if (frames > 1) stride = std::min(stride, (n - 1) / (frames - 1));
  const int64_t span = (frames - 1) * stride + 1;
  const int64_t start = rng ? rng->randint(0, n - span + 1) : (n - span) / 2;
  std::vector<int64_t> indices(static_cast<size_t>(frames));
  for (int64_t t = 0; t < frames; ++t) indices[static_cast<size_t>(t)] = start + t * stride;
  return indices;
}

bool is_video_file(const std::string& path) {
  static const std::vector<std::string> extensions{".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v"};
  std::string lower = fs::path(path).extension().string();
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::find(extensions.begin(), extensions.end(), lower) != extensions.end();
}

std::vector<int64_t> pick_frames(const FramePicker& pick, int64_t n, const std::string& what) {
  try {
    return pick(n);
  } catch (const Error& e) {
    throw Error(what + " " + e.what());
  }
}

#ifdef ZOO_VIDEOIO

namespace {

// FFmpeg and OpenCV log their own complaints about a damaged file on stderr ("moov atom not
// found", "Could not find decoder") beside zoo's one line: quiet, unless the user asked for
// FFmpeg's log (OPENCV_FFMPEG_LOGLEVEL) or OpenCV's (OPENCV_LOG_LEVEL).
void quiet_ffmpeg() {
  static const bool once = [] {
    if (!std::getenv("OPENCV_LOG_LEVEL")) cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    return setenv("OPENCV_FFMPEG_LOGLEVEL", "-8", /*overwrite=*/0) == 0;
  }();
  (void)once;
}

cv::VideoCapture open_video(const std::string& path) {
  quiet_ffmpeg();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error("video not found: " + path);
  cv::VideoCapture capture;
  try {
    capture.open(path, cv::CAP_FFMPEG);
  } catch (const cv::Exception& e) {
    throw Error("cannot read video " + path + ": " + first_line(e.what()));
  }
  if (!capture.isOpened()) throw Error("cannot read video " + path + " (not a video OpenCV can decode, or damaged)");
  return capture;
}

// The decoded frame as RGB; every frame of one video must have the first one's size.
cv::Mat rgb_frame(const cv::Mat& bgr, const std::string& path, const cv::Size& expected) {
  if (bgr.empty() || bgr.channels() != 3 || bgr.depth() != CV_8U) throw Error("cannot read video " + path + ": a frame did not decode");
  if (!expected.empty() && bgr.size() != expected) throw Error("cannot read video " + path + ": its frames change size");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

// capture.read(bgr): false at the end of the stream; OpenCV's own exceptions on a damaged stream
// (an assertion on a frame's layout, found by tests/fuzz/fuzz_video_file.cpp) as zoo's Error.
bool next_frame(cv::VideoCapture& capture, cv::Mat& bgr, const std::string& path) {
  try {
    return capture.read(bgr);
  } catch (const cv::Exception& e) {
    throw Error("cannot read video " + path + ": a frame did not decode (" + first_line(e.what()) + ")");
  }
}

}  // namespace

std::vector<cv::Mat> read_video(const std::string& path) {
  auto capture = open_video(path);
  std::vector<cv::Mat> frames;
  cv::Mat bgr;
  while (next_frame(capture, bgr, path)) frames.push_back(rgb_frame(bgr, path, frames.empty() ? cv::Size() : frames[0].size()));
  if (frames.empty()) throw Error("cannot read video " + path + ": it holds no frame");
  return frames;
}

std::vector<cv::Mat> read_video_frames(const std::string& path, const FramePicker& pick) {
  auto capture = open_video(path);
  // The container's frame count is a hint (some formats only estimate it): when the video ends
  // before the last frame wanted, it is decoded whole and the clip chosen from what it holds.
  const auto hinted = static_cast<int64_t>(capture.get(cv::CAP_PROP_FRAME_COUNT));
  if (hinted > 0) {
    const auto wanted = pick_frames(pick, hinted, "video " + path);
    std::vector<cv::Mat> clip;
    cv::Mat bgr;
    size_t next = 0;
    // Every frame up to the last wanted is decoded and converted (read), not only grabbed: OpenCV
    // 4.6 reads past FFmpeg's buffer when a frame of a damaged stream is retrieved after frames
    // that were only grabbed (found by tests/fuzz/fuzz_video_file.cpp).
    for (int64_t i = 0; next < wanted.size(); ++i) {
      if (!next_frame(capture, bgr, path)) break;
      while (next < wanted.size() && wanted[next] == i) {
        clip.push_back(rgb_frame(bgr, path, clip.empty() ? cv::Size() : clip[0].size()));
        ++next;
      }
    }
    if (next == wanted.size()) return clip;
  }
  const auto all = read_video(path);
  std::vector<cv::Mat> clip;
  for (int64_t i : pick_frames(pick, static_cast<int64_t>(all.size()), "video " + path)) clip.push_back(all[static_cast<size_t>(i)]);
  return clip;
}

void write_video(const std::string& path, const std::vector<cv::Mat>& frames, double fps) {
  if (frames.empty()) throw Error("cannot write video " + path + ": no frames");
  quiet_ffmpeg();
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  const int fourcc = ext == ".avi" ? cv::VideoWriter::fourcc('M', 'J', 'P', 'G') : ext == ".mp4" ? cv::VideoWriter::fourcc('m', 'p', '4', 'v') : 0;
  cv::VideoWriter writer(path, cv::CAP_FFMPEG, fourcc, fps, frames[0].size());
  if (!writer.isOpened()) throw Error("cannot write video " + path + " (OpenCV has no encoder for it)");
  cv::Mat bgr;
  for (const auto& frame : frames) {
    cv::cvtColor(frame, bgr, cv::COLOR_RGB2BGR);
    writer.write(bgr);
  }
}

#else  // built without OpenCV's videoio (a CUDA build from a packed sysroot): frame folders only

namespace {
[[noreturn]] void no_videoio(const std::string& path) {
  throw Error("cannot read video " + path + ": this zoo was built without OpenCV's videoio (FFmpeg); give the clip as a folder of frames");
}
}  // namespace

std::vector<cv::Mat> read_video(const std::string& path) { no_videoio(path); }
std::vector<cv::Mat> read_video_frames(const std::string& path, const FramePicker&) { no_videoio(path); }
void write_video(const std::string& path, const std::vector<cv::Mat>&, double) { no_videoio(path); }

#endif

}  // namespace zoo::data
