#include "data/video_file.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#ifdef ZOO_VIDEOIO
#include <cmath>
#include <memory>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/videoio.hpp>
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}
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
// found", "invalid data found") beside zoo's one line: quiet, unless the user asked for FFmpeg's
// log (ZOO_FFMPEG_LOG=1) or OpenCV's (OPENCV_LOG_LEVEL).
void quiet_ffmpeg() {
  static const bool once = [] {
    if (!std::getenv("OPENCV_LOG_LEVEL")) cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    if (!std::getenv("ZOO_FFMPEG_LOG")) av_log_set_level(AV_LOG_QUIET);
    return setenv("OPENCV_FFMPEG_LOGLEVEL", "-8", /*overwrite=*/0) == 0;
  }();
  (void)once;
}

std::string av_error(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, text, sizeof text);
  text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

template <typename T, void (*Free)(T**)>
struct AvFree {
  void operator()(T* p) const { Free(&p); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, AvFree<AVFormatContext, avformat_close_input>>;
using CodecPtr = std::unique_ptr<AVCodecContext, AvFree<AVCodecContext, avcodec_free_context>>;
using PacketPtr = std::unique_ptr<AVPacket, AvFree<AVPacket, av_packet_free>>;
using FramePtr = std::unique_ptr<AVFrame, AvFree<AVFrame, av_frame_free>>;
struct SwsFree {
  void operator()(SwsContext* p) const { sws_freeContext(p); }
};

// The quarter turns (clockwise) that show a stream upright: its display matrix, as phones write it.
int clockwise_quarter_turns(const AVStream* stream) {
  const uint8_t* matrix = nullptr;
#if LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(60, 31, 102)  // FFmpeg 6.1 moved it to the parameters
  const AVPacketSideData* side = av_packet_side_data_get(stream->codecpar->coded_side_data, stream->codecpar->nb_coded_side_data, AV_PKT_DATA_DISPLAYMATRIX);
  if (side && side->size >= 9 * static_cast<int>(sizeof(int32_t))) matrix = side->data;
#else
#if LIBAVFORMAT_VERSION_MAJOR >= 59
  size_t size = 0;
#else
  int size = 0;
#endif
  matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (static_cast<size_t>(size) < 9 * sizeof(int32_t)) matrix = nullptr;
#endif
  if (!matrix) return 0;
  const double counter_clockwise = av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (!std::isfinite(counter_clockwise)) return 0;
  const long degrees = ((std::lround(-counter_clockwise) % 360) + 360) % 360;
  return static_cast<int>(((degrees + 45) / 90) % 4);
}

// One video stream decoded frame by frame with FFmpeg, each frame converted to RGB at its own size.
// zoo decodes with FFmpeg itself rather than through OpenCV's VideoCapture: OpenCV 4.6 converts
// every frame with the scaler and buffer it set up for the first one and labels it with the size the
// container declares, so a stream whose frames change size comes back as garbage at the wrong
// size, and its copy reads past FFmpeg's buffer (found by tests/fuzz/fuzz_video_file.cpp).
class VideoDecoder {
 public:
  explicit VideoDecoder(const std::string& path) : path_(path) {
    quiet_ffmpeg();
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) throw Error("video not found: " + path);
    AVFormatContext* opened = nullptr;
    if (int code = avformat_open_input(&opened, path.c_str(), nullptr, nullptr); code < 0) fail(av_error(code));
    format_.reset(opened);
    if (int code = avformat_find_stream_info(format_.get(), nullptr); code < 0) fail(av_error(code));
#if LIBAVFORMAT_VERSION_MAJOR >= 59
    const AVCodec* codec = nullptr;
#else
    AVCodec* codec = nullptr;
#endif
    stream_ = av_find_best_stream(format_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (stream_ < 0 || !codec) fail(stream_ == AVERROR_DECODER_NOT_FOUND ? "no decoder for its video stream" : "it holds no video stream");
    const AVStream* stream = format_->streams[stream_];
    codec_.reset(avcodec_alloc_context3(codec));
    if (!codec_ || avcodec_parameters_to_context(codec_.get(), stream->codecpar) < 0) fail("its video stream's parameters are invalid");
    // One thread per video: the loader's workers already decode several clips at once.
    codec_->thread_count = 1;
    if (int code = avcodec_open2(codec_.get(), codec, nullptr); code < 0) fail(av_error(code));
    packet_.reset(av_packet_alloc());
    frame_.reset(av_frame_alloc());
    rgb_.reset(av_frame_alloc());
    if (!packet_ || !frame_ || !rgb_) throw Error("cannot read video " + path + ": out of memory");
    turns_ = clockwise_quarter_turns(stream);
  }

  // The container's frame count, or its duration times its frame rate; 0 when it states neither.
  // A hint: some containers only estimate it, and a damaged file may hold fewer.
  int64_t frame_count_hint() const {
    const AVStream* stream = format_->streams[stream_];
    if (stream->nb_frames > 0) return stream->nb_frames;
    const AVRational rate = stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
    if (rate.num <= 0 || rate.den <= 0) return 0;
    double seconds = 0;
    if (stream->duration > 0) seconds = static_cast<double>(stream->duration) * av_q2d(stream->time_base);
    else if (format_->duration > 0) seconds = static_cast<double>(format_->duration) / AV_TIME_BASE;
    const double frames = std::round(seconds * av_q2d(rate));
    return std::isfinite(frames) && frames > 0 && frames < 1e9 ? static_cast<int64_t>(frames) : 0;
  }

  // The next frame as RGB (a new Mat); false at the end of the stream. Packets the decoder rejects
  // (damaged data) are skipped, as FFmpeg's own tools skip them.
  bool next(cv::Mat& rgb) {
    for (;;) {
      const int received = avcodec_receive_frame(codec_.get(), frame_.get());
      if (received == 0) {
        rgb = to_rgb(*frame_);
        av_frame_unref(frame_.get());
        return true;
      }
      // Once drained, anything but a frame is the end; before, a frame the decoder rejected
      // (received < 0) is skipped like a damaged packet.
      if (received == AVERROR_EOF || draining_) return false;
      const int read = av_read_frame(format_.get(), packet_.get());
      if (read < 0) {
        // The end of the file, or a read error: what the decoder still holds comes out.
        draining_ = true;
        avcodec_send_packet(codec_.get(), nullptr);
        continue;
      }
      if (packet_->stream_index == stream_) avcodec_send_packet(codec_.get(), packet_.get());
      av_packet_unref(packet_.get());
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error("cannot read video " + path_ + ": " + why + " (not a video FFmpeg can decode, or damaged)");
  }

  cv::Mat to_rgb(const AVFrame& frame) {
    const int width = frame.width, height = frame.height;
    if (width <= 0 || height <= 0 || frame.format < 0) throw Error("cannot read video " + path_ + ": a frame did not decode");
    scaler_.reset(sws_getCachedContext(scaler_.release(), width, height, static_cast<AVPixelFormat>(frame.format), width, height, AV_PIX_FMT_RGB24,
                                       SWS_BILINEAR, nullptr, nullptr, nullptr));
    if (!scaler_) {
      const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame.format));
      throw Error("cannot read video " + path_ + ": its pixel format " + (name ? name : "?") + " cannot be converted to RGB");
    }
    // The RGB frame in FFmpeg's own padded, aligned buffer (the scaler writes whole vectors), then
    // copied into the Mat.
    if (rgb_->width != width || rgb_->height != height) {
      av_frame_unref(rgb_.get());
      rgb_->format = AV_PIX_FMT_RGB24;
      rgb_->width = width;
      rgb_->height = height;
      if (av_frame_get_buffer(rgb_.get(), 0) < 0) throw Error("cannot read video " + path_ + ": out of memory for a " + std::to_string(width) + "x" + std::to_string(height) + " frame");
    }
    sws_scale(scaler_.get(), frame.data, frame.linesize, 0, height, rgb_->data, rgb_->linesize);
    const cv::Mat view(height, width, CV_8UC3, rgb_->data[0], static_cast<size_t>(rgb_->linesize[0]));
    cv::Mat out;
    if (turns_ == 0) view.copyTo(out);
    else cv::rotate(view, out, turns_ == 1 ? cv::ROTATE_90_CLOCKWISE : turns_ == 2 ? cv::ROTATE_180 : cv::ROTATE_90_COUNTERCLOCKWISE);
    return out;
  }

  std::string path_;
  FormatPtr format_;
  CodecPtr codec_;
  PacketPtr packet_;
  FramePtr frame_;
  FramePtr rgb_;
  std::unique_ptr<SwsContext, SwsFree> scaler_;
  int stream_ = -1;
  int turns_ = 0;
  bool draining_ = false;
};

// Every frame of one clip must have the first one's size.
void check_size(const cv::Mat& frame, const std::vector<cv::Mat>& clip, const std::string& path) {
  if (!clip.empty() && frame.size() != clip[0].size()) throw Error("cannot read video " + path + ": its frames change size");
}

}  // namespace

std::vector<cv::Mat> read_video(const std::string& path) {
  VideoDecoder decoder(path);
  std::vector<cv::Mat> frames;
  cv::Mat rgb;
  while (decoder.next(rgb)) {
    check_size(rgb, frames, path);
    frames.push_back(rgb);
  }
  if (frames.empty()) throw Error("cannot read video " + path + ": it holds no frame");
  return frames;
}

std::vector<cv::Mat> read_video_frames(const std::string& path, const FramePicker& pick) {
  std::vector<int64_t> wanted;
  {
    VideoDecoder decoder(path);
    // The frames are chosen from the container's frame count, and the video decoded up to the last
    // one wanted. When it states none, states too few, or the video ends early, the video is decoded
    // whole and the clip chosen from what it holds.
    const int64_t hinted = decoder.frame_count_hint();
    if (hinted > 0) {
      try {
        wanted = pick(hinted);
      } catch (const Error&) {
        wanted.clear();
      }
    }
    std::vector<cv::Mat> clip;
    cv::Mat rgb;
    size_t next = 0;
    for (int64_t i = 0; next < wanted.size() && decoder.next(rgb); ++i) {
      while (next < wanted.size() && wanted[next] == i) {
        check_size(rgb, clip, path);
        clip.push_back(rgb);
        ++next;
      }
    }
    if (!wanted.empty() && next == wanted.size()) return clip;
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
