#include "data/detection.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "data/captions.h"
#include "data/datasets.h"
#include "data/image.h"
#include "lib/core/checkpoint.h"
#include "lib/core/error.h"

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace zoo::data {

namespace {

// --- synth:boxes ------------------------------------------------------------------------------

struct BoxShape {
  int shape = 0;  // index into SynthShapes::shape_names()
  double cx = 0, cy = 0, radius = 0, angle = 0;
  cv::Scalar colour;
};

struct BoxScene {
  std::vector<BoxShape> shapes;            // in drawing order: later ones cover earlier ones
  std::vector<std::array<double, 4>> boxes;  // tight x, y, w, h of each whole shape
  std::vector<double> areas;               // visible pixels of each
};

int64_t category_of_shape(int shape) { return 2 * shape + 1; }

// The shape's pixels on an otherwise empty size x size mask (255 inside).
cv::Mat shape_mask(const BoxShape& s, int size) {
  cv::Mat mask(size, size, CV_8UC3, cv::Scalar(0, 0, 0));
  draw_shape(mask, SynthShapes::shape_names()[static_cast<size_t>(s.shape)], s.cx, s.cy, s.radius, s.angle, cv::Scalar(255, 255, 255));
  cv::Mat channel;
  cv::extractChannel(mask, channel, 0);
  return channel > 127;
}

BoxScene box_scene(uint64_t seed, int64_t index, int size) {
  Rng rng(mix_seed(seed, static_cast<uint64_t>(index), 1));
  BoxScene scene;
  std::vector<cv::Mat> masks;
  const int count = static_cast<int>(rng.randint(1, 5));
  for (int tries = 0; static_cast<int>(scene.shapes.size()) < count && tries < 100; ++tries) {
    BoxShape s;
    s.shape = static_cast<int>(rng.randint(0, 6));
    // Radii log-uniform from 8% to 40% of the side: COCO's small, medium and large objects at 128
    // pixels (boxes under 32, between, and over 96 pixels wide).
    s.radius = size * std::exp(rng.uniform(std::log(0.08), std::log(0.40)));
    s.cx = rng.uniform(s.radius, size - s.radius), s.cy = rng.uniform(s.radius, size - s.radius);
    s.angle = rng.uniform(0, 2 * M_PI);
    s.colour = cv::Scalar(rng.uniform(60, 255), rng.uniform(60, 255), rng.uniform(60, 255));
    cv::Mat mask = shape_mask(s, size);
    const int pixels = cv::countNonZero(mask);
    if (pixels < 4) continue;
    // Every shape drawn so far must stay at least 60% visible once this one covers it.
    bool visible = true;
    for (size_t k = 0; k < masks.size() && visible; ++k) {
      cv::Mat left = masks[k] & ~mask;
      visible = cv::countNonZero(left) >= 0.6 * cv::countNonZero(masks[k]);
    }
    if (!visible) continue;
    for (auto& m : masks) m &= ~mask;
    masks.push_back(mask);
    const cv::Rect r = cv::boundingRect(mask);
    scene.shapes.push_back(s);
    scene.boxes.push_back({static_cast<double>(r.x), static_cast<double>(r.y), static_cast<double>(r.width), static_cast<double>(r.height)});
  }
  for (const auto& m : masks) scene.areas.push_back(cv::countNonZero(m));
  return scene;
}

cv::Mat render_box_scene(const BoxScene& scene, uint64_t seed, int64_t index, int size) {
  Rng rng(mix_seed(seed, static_cast<uint64_t>(index), 2));
  cv::Mat img = noisy_background(size, rng, 10, 60);
  for (const auto& s : scene.shapes) draw_shape(img, SynthShapes::shape_names()[static_cast<size_t>(s.shape)], s.cx, s.cy, s.radius, s.angle, s.colour);
  return img;
}


// DETR's get_size: (height, width) with the shorter side `size`, unless that makes the longer
// exceed max_size.
std::pair<int, int> resized_shape(int height, int width, int size, int max_size) {
  if (max_size > 0) {
    const double shorter = std::min(width, height), longer = std::max(width, height);
    if (longer / shorter * size > max_size) size = static_cast<int>(std::nearbyint(max_size * shorter / longer));  // round half to even, as Python
  }
  if ((width <= height && width == size) || (height <= width && height == size)) return {height, width};
  if (width < height) return {static_cast<int>(static_cast<int64_t>(size) * height / width), size};
  return {size, static_cast<int>(static_cast<int64_t>(size) * width / height)};
}

}  // namespace

cv::Mat DetectionSet::image(int64_t index) const {
  const auto& entry = images.at(static_cast<size_t>(index));
  if (!entry.file.empty()) return read_image(entry.file);
  return render_box_scene(box_scene(synth_seed, entry.image_id, synth_image_size), synth_seed, entry.image_id, synth_image_size);
}

std::string DetectionSet::describe(int64_t index) const {
  const auto& entry = images.at(static_cast<size_t>(index));
  return entry.file.empty() ? "synth:boxes#" + std::to_string(entry.image_id) : entry.file;
}

int64_t DetectionSet::object_count() const {
  int64_t n = 0;
  for (const auto& image : images) n += static_cast<int64_t>(image.objects.size());
  return n;
}

DetectionSet synth_boxes_split(int64_t n, int image_size, uint64_t seed, const std::string& split) {
  if (split != "train" && split != "val" && split != "test") throw UsageError("invalid --split '" + split + "': expected train, val or test");
  DetectionSet set;
  set.source = "synth:boxes";
  set.synth_image_size = image_size;
  set.synth_seed = mix_seed(seed, split == "train" ? 31 : split == "val" ? 32 : 33);
  for (int shape = 0; shape < 6; ++shape) set.categories.push_back({category_of_shape(shape), SynthShapes::shape_names()[static_cast<size_t>(shape)]});
  const int64_t count = split == "train" ? n : std::max<int64_t>(64, n / 4);
  int64_t object_id = 0;
  for (int64_t i = 0; i < count; ++i) {
    const BoxScene scene = box_scene(set.synth_seed, i, image_size);
    DetectionImage image;
    image.image_id = i;
    image.width = image.height = image_size;
    for (size_t k = 0; k < scene.shapes.size(); ++k)
      image.objects.push_back({++object_id, category_of_shape(scene.shapes[k].shape), scene.boxes[k], scene.areas[k], false});
    set.images.push_back(std::move(image));
  }
  return set;
}

DetectionSet load_detection_split(const std::string& path, const std::string& split, double val_fraction, bool skip_bad) {
  if (split != "train" && split != "val" && split != "test") throw UsageError("invalid --split '" + split + "': expected train, val or test");
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error("data not found: " + path);
  const fs::path p(path);
  std::string file, own_split = split;
  fs::path image_dir;
  bool held_out = false;
  if (fs::is_directory(p)) {
    file = coco_annotation_file(p, "instances", split);
    if (file.empty() && split == "test") file = coco_annotation_file(p, "instances", own_split = "val");
    if (file.empty()) held_out = true, file = coco_annotation_file(p, "instances", own_split = "train");
    if (file.empty()) throw Error("no annotations/instances_train2017.json (or _" + split + "2017) in " + path);
    held_out = held_out || (split == "train" && coco_annotation_file(p, "instances", "val").empty());
    image_dir = p / (own_split + file.substr(file.size() - 9, 4));
  } else {
    // An instances file on its own.
    file = path, held_out = true;
    image_dir = coco_image_dir(p);
  }
  CocoInstances instances = read_coco_instances(file, image_dir, skip_bad);
  DetectionSet set;
  set.source = file;
  set.categories = std::move(instances.categories);
  std::sort(set.categories.begin(), set.categories.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  if (set.categories.empty()) throw Error(file + " has no categories");
  set.skipped = std::move(instances.skipped);
  if (held_out) {
    // held_out_indices: train is the rest, val and test the held-out share.
    for (int64_t i : held_out_indices(static_cast<int64_t>(instances.images.size()), split, val_fraction, file))
      set.images.push_back(std::move(instances.images[static_cast<size_t>(i)]));
  } else {
    set.images = std::move(instances.images);
  }
  if (set.images.empty()) throw Error(file + ": the " + split + " split holds no image");
  std::vector<std::string> files;
  for (const auto& image : set.images) files.push_back(image.file);
  require_files(files, set.source);
  return set;
}

void write_coco_instances(const DetectionSet& set, const std::string& root, const std::string& split) {
  const fs::path image_dir = fs::path(root) / (split + "2017"), annotation_dir = fs::path(root) / "annotations";
  std::error_code ec;
  fs::create_directories(image_dir, ec);
  fs::create_directories(annotation_dir, ec);
  if (ec) throw Error("cannot create " + image_dir.string() + ": " + ec.message());
  Json images = Json::array(), annotations = Json::array(), categories = Json::array();
  for (const auto& c : set.categories) categories.push_back({{"id", c.id}, {"name", c.name}, {"supercategory", "shape"}});
  char name[32];
  for (int64_t i = 0; i < set.size(); ++i) {
    const auto& entry = set.images[static_cast<size_t>(i)];
    const cv::Mat img = set.image(i);
    std::snprintf(name, sizeof(name), "%012lld.png", static_cast<long long>(entry.image_id));
    write_image((image_dir / name).string(), img);
    images.push_back({{"id", entry.image_id}, {"file_name", name}, {"width", img.cols}, {"height", img.rows}});
    for (const auto& o : entry.objects)
      annotations.push_back({{"id", o.id}, {"image_id", entry.image_id}, {"category_id", o.category_id}, {"bbox", {o.box[0], o.box[1], o.box[2], o.box[3]}},
                             {"area", o.area}, {"iscrowd", o.crowd ? 1 : 0}});
  }
  write_file_atomic((annotation_dir / ("instances_" + split + "2017.json")).string(),
                    Json{{"info", {{"description", "zoo " + set.source}}}, {"images", images}, {"annotations", annotations}, {"categories", categories}}.dump());
}

// --- DETR's transforms ------------------------------------------------------------------------

BoxedImage flip_boxed(const BoxedImage& in) {
  BoxedImage out{hflip(in.image), in.boxes, in.labels};
  const double width = in.image.cols;
  for (auto& b : out.boxes) b = {width - b[2], b[1], width - b[0], b[3]};
  return out;
}

BoxedImage resize_boxed(const BoxedImage& in, int size, int max_size) {
  const auto [height, width] = resized_shape(in.image.rows, in.image.cols, size, max_size);
  BoxedImage out{height == in.image.rows && width == in.image.cols ? in.image : resize_exact(in.image, height, width), in.boxes, in.labels};
  const double sx = static_cast<double>(width) / in.image.cols, sy = static_cast<double>(height) / in.image.rows;
  for (auto& b : out.boxes) b = {b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy};
  return out;
}

BoxedImage crop_boxed(const BoxedImage& in, int top, int left, int height, int width) {
  BoxedImage out;
  out.image = in.image(cv::Rect(left, top, width, height)).clone();
  for (size_t k = 0; k < in.boxes.size(); ++k) {
    const auto& b = in.boxes[k];
    const std::array<double, 4> clipped{std::clamp(b[0] - left, 0.0, static_cast<double>(width)), std::clamp(b[1] - top, 0.0, static_cast<double>(height)),
                                        std::clamp(b[2] - left, 0.0, static_cast<double>(width)), std::clamp(b[3] - top, 0.0, static_cast<double>(height))};
    if (clipped[2] > clipped[0] && clipped[3] > clipped[1]) out.boxes.push_back(clipped), out.labels.push_back(in.labels[k]);
  }
  return out;
}

BoxedImage random_size_crop(const BoxedImage& in, int min_size, int max_size, Rng& rng) {
  const int W = in.image.cols, H = in.image.rows;
  // random.randint(a, b) is inclusive; an image smaller than min_size is cropped to itself.
  const int width = static_cast<int>(rng.randint(std::min(min_size, W), std::min(W, max_size) + 1));
  const int height = static_cast<int>(rng.randint(std::min(min_size, H), std::min(H, max_size) + 1));
  const int top = static_cast<int>(rng.randint(0, H - height + 1)), left = static_cast<int>(rng.randint(0, W - width + 1));
  return crop_boxed(in, top, left, height, width);
}

std::vector<int> DetectionAugment::train_sizes() const {
  if (!multi_scale) return {size};
  std::vector<int> sizes;
  for (int s = 480; s <= 800; s += 32) sizes.push_back(std::max(1, static_cast<int>(std::lround(s * size / 800.0))));
  return sizes;
}

BoxedImage DetectionAugment::train(const BoxedImage& in, Rng& rng) const {
  BoxedImage out = flip && rng.bernoulli(0.5) ? flip_boxed(in) : in;
  const auto sizes = train_sizes();
  auto any_size = [&] { return sizes[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(sizes.size())))]; };
  auto scaled = [&](int s) { return std::max(1, static_cast<int>(std::lround(s * size / 800.0))); };
  if (crop && rng.bernoulli(0.5)) {
    const int first[3] = {scaled(400), scaled(500), scaled(600)};
    out = resize_boxed(out, first[rng.randint(0, 3)], 0);
    out = random_size_crop(out, scaled(384), scaled(600), rng);
  }
  return resize_boxed(out, any_size(), max_size);
}

DetectionSample to_detection_sample(const BoxedImage& boxed, const std::vector<double>& mean, const std::vector<double>& std) {
  DetectionSample sample;
  sample.image = to_tensor(boxed.image, mean, std);
  const auto n = static_cast<int64_t>(boxed.boxes.size());
  sample.boxes = torch::empty({n, 4});
  sample.labels = torch::empty({n}, torch::kInt64);
  auto boxes = sample.boxes.accessor<float, 2>();
  auto labels = sample.labels.accessor<int64_t, 1>();
  const double w = boxed.image.cols, h = boxed.image.rows;
  for (int64_t k = 0; k < n; ++k) {
    const auto& b = boxed.boxes[static_cast<size_t>(k)];
    // (x0, y0, x1, y1) pixels -> (cx, cy, w, h) / (W, H)
    boxes[k][0] = static_cast<float>((b[0] + b[2]) / 2 / w), boxes[k][1] = static_cast<float>((b[1] + b[3]) / 2 / h);
    boxes[k][2] = static_cast<float>((b[2] - b[0]) / w), boxes[k][3] = static_cast<float>((b[3] - b[1]) / h);
    labels[k] = boxed.labels[static_cast<size_t>(k)];
  }
  return sample;
}

std::vector<torch::Tensor> collate_detection(const std::vector<DetectionSample>& samples) {
  const auto B = static_cast<int64_t>(samples.size());
  int64_t H = 1, W = 1, N = 0;
  for (const auto& s : samples) H = std::max(H, s.image.size(1)), W = std::max(W, s.image.size(2)), N += s.boxes.size(0);
  auto images = torch::zeros({B, 3, H, W});
  auto mask = torch::ones({B, H, W}, torch::kBool);
  auto boxes = torch::empty({N, 4});
  auto labels = torch::empty({N}, torch::kInt64);
  auto counts = torch::empty({B}, torch::kInt64);
  // Plain copies, no LibTorch operations: the loader's workers stay single-threaded.
  float* image_out = images.data_ptr<float>();
  bool* mask_out = mask.data_ptr<bool>();
  auto count_values = counts.accessor<int64_t, 1>();
  float* boxes_out = boxes.data_ptr<float>();
  int64_t* labels_out = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < B; ++i) {
    const auto& s = samples[static_cast<size_t>(i)];
    const auto image = s.image.contiguous();
    const int64_t h = image.size(1), w = image.size(2), n = s.boxes.size(0);
    const float* in = image.data_ptr<float>();
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < h; ++y) std::copy_n(in + (c * h + y) * w, w, image_out + ((i * 3 + c) * H + y) * W);
    for (int64_t y = 0; y < h; ++y) std::fill_n(mask_out + (i * H + y) * W, w, false);
    const auto box_values = s.boxes.contiguous();
    const auto label_values = s.labels.contiguous();
    std::copy_n(box_values.data_ptr<float>(), n * 4, boxes_out);
    std::copy_n(label_values.data_ptr<int64_t>(), n, labels_out);
    boxes_out += n * 4, labels_out += n;
    count_values[i] = n;
  }
  return {images, mask, boxes, labels, counts};
}

}  // namespace zoo::data
