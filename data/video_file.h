// Video files through OpenCV's VideoCapture (FFmpeg): decoding whole or only the frames a clip
// takes, writing, and which frames a clip takes. No LibTorch, so that its fuzz target builds on it alone.
#pragma once
#include <opencv2/core.hpp>
#include <functional>
#include <string>
#include <vector>

#include "lib/core/random.h"

namespace zoo::data {

// Which frames of a video of n frames a clip of `frames` frames `stride` apart takes: from the
// start (n - span) / 2 (rng null; span = (frames - 1) stride + 1), or a start drawn uniformly from
// [0, n - span]. A video shorter than the span but holding at least `frames` frames is sampled with
// the largest stride that fits. Error when n < frames (the video is too short).
std::vector<int64_t> clip_frame_indices(int64_t n, int64_t frames, int64_t stride, Rng* rng);

// Chooses the frames of a video from its frame count: clip_frame_indices with its T, stride and rng.
using FramePicker = std::function<std::vector<int64_t>(int64_t frame_count)>;
// pick(n) for the clip `what` ("video PATH"): a too-short clip's Error, prefixed with `what`.
std::vector<int64_t> pick_frames(const FramePicker& pick, int64_t n, const std::string& what);

// Extensions read as video files, compared case-insensitively.
bool is_video_file(const std::string& path);

// Every frame of a video file, decoded by OpenCV (FFmpeg) to RGB. Error naming the file when it
// cannot be opened or holds no frame.
std::vector<cv::Mat> read_video(const std::string& path);
// The frames `pick` chooses from a video file: decoded in one pass, keeping only those.
std::vector<cv::Mat> read_video_frames(const std::string& path, const FramePicker& pick);
// Writes RGB frames as a video file (the codec from the extension: .avi MJPG, .mp4 mp4v, else
// FFmpeg's default for it); Error naming the file when OpenCV cannot write it.
void write_video(const std::string& path, const std::vector<cv::Mat>& frames, double fps = 10);

}  // namespace zoo::data
