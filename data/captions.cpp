#include "data/captions.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "data/datasets.h"
#include "data/image.h"
#include "data/loader.h"
#include "lib/core/checkpoint.h"
#include "lib/core/error.h"
#include "lib/core/random.h"

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace zoo::data {

namespace {

// The split's images: all when the data has this split, else a held-out share.
std::vector<CaptionedImage> hold_out(std::vector<CaptionedImage> all, const std::string& split, double val_fraction,
                                     const std::string& source) {
  std::vector<CaptionedImage> out;
  for (int64_t i : held_out_indices(static_cast<int64_t>(all.size()), split, val_fraction, source)) out.push_back(std::move(all[static_cast<size_t>(i)]));
  return out;
}


// --- COCO -----------------------------------------------------------------------------------

// --- Flickr8k --------------------------------------------------------------------------------

std::vector<CaptionedImage> read_flickr8k(const std::string& path, const std::string& split, double val_fraction) {
  const fs::path dir = fs::path(path).parent_path();
  fs::path image_dir = dir;
  for (const char* name : {"Flicker8k_Dataset", "Flickr8k_Dataset", "Images", "images"})
    if (fs::is_directory(dir / name)) {
      image_dir = dir / name;
      break;
    }
  std::vector<CaptionedImage> images = read_flickr8k_tokens(path, image_dir);
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < images.size(); ++i) by_name[fs::path(images[i].file).filename().string()] = i;
  // The official split lists, when they sit beside the token file.
  const std::map<std::string, std::string> lists{{"train", "Flickr_8k.trainImages.txt"}, {"val", "Flickr_8k.devImages.txt"}, {"test", "Flickr_8k.testImages.txt"}};
  const fs::path list = dir / lists.at(split);
  if (!fs::is_regular_file(list)) return hold_out(std::move(images), split == "test" ? "val" : split, val_fraction, path);
  std::ifstream names(list);
  std::vector<CaptionedImage> out;
  for (std::string name; std::getline(names, name);) {
    if (!name.empty() && name.back() == '\r') name.pop_back();
    if (is_blank(name)) continue;
    auto it = by_name.find(name);
    if (it == by_name.end()) throw Error(list.string() + ": " + name + " has no caption in " + path);
    out.push_back(images[it->second]);
  }
  return out;
}

// --- synth:scenes ----------------------------------------------------------------------------

struct SceneSpec {
  struct Shape {
    int shape = 0, colour = 0;
    double cx = 0, cy = 0, radius = 0;
  };
  std::vector<Shape> shapes;  // left to right
};

const std::vector<cv::Scalar>& scene_colours() {
  static const std::vector<cv::Scalar> colours{{230, 40, 40}, {40, 200, 60}, {50, 90, 240}, {240, 220, 40}, {170, 60, 210}, {250, 140, 20}};
  return colours;
}

SceneSpec scene_spec(uint64_t seed, int64_t index, int size) {
  Rng rng(mix_seed(seed, static_cast<uint64_t>(index), 1));
  SceneSpec spec;
  const int count = static_cast<int>(rng.randint(1, 4));
  std::set<std::pair<int, int>> used;
  for (int tries = 0; static_cast<int>(spec.shapes.size()) < count && tries < 200; ++tries) {
    SceneSpec::Shape s;
    s.shape = static_cast<int>(rng.randint(0, 6)), s.colour = static_cast<int>(rng.randint(0, 6));
    s.radius = size * rng.uniform(0.11, 0.17);
    s.cx = rng.uniform(s.radius + 1, size - s.radius - 1), s.cy = rng.uniform(s.radius + 1, size - s.radius - 1);
    if (used.count({s.shape, s.colour})) continue;
    // Apart enough that each stays whole and its box its own.
    bool clear = true;
    for (const auto& o : spec.shapes) clear = clear && std::hypot(o.cx - s.cx, o.cy - s.cy) > o.radius + s.radius + 2;
    if (!clear) continue;
    used.insert({s.shape, s.colour});
    spec.shapes.push_back(s);
  }
  std::sort(spec.shapes.begin(), spec.shapes.end(), [](const auto& a, const auto& b) { return a.cx < b.cx; });
  return spec;
}

// "a red circle", "an orange star".
std::string phrase(const SceneSpec::Shape& s) {
  const std::string& colour = scene_colour_names()[s.colour];
  return std::string(std::string("aeiou").find(colour[0]) == std::string::npos ? "a " : "an ") + colour + " " + SynthShapes::shape_names()[s.shape];
}

// Five captions of a scene: the shapes left to right, right to left, listed, and their vertical
// relation; one shape: five ways of naming it.
std::vector<std::string> scene_captions(const SceneSpec& spec) {
  const auto& s = spec.shapes;
  if (s.size() == 1) {
    const std::string one = scene_colour_names()[s[0].colour] + " " + SynthShapes::shape_names()[s[0].shape];
    return {phrase(s[0]), "a single " + one, "one " + one, "a picture of " + phrase(s[0]), "there is " + phrase(s[0])};
  }
  std::string left_to_right = phrase(s[0]), right_to_left = phrase(s.back()), listed = phrase(s[0]);
  for (size_t i = 1; i < s.size(); ++i) {
    left_to_right += " left of " + phrase(s[i]);
    right_to_left += " right of " + phrase(s[s.size() - 1 - i]);
    listed += (i + 1 == s.size() ? " and " : " , ") + phrase(s[i]);
  }
  // The highest shape first, each next one below.
  std::vector<SceneSpec::Shape> by_height(s.begin(), s.end());
  std::sort(by_height.begin(), by_height.end(), [](const auto& a, const auto& b) { return a.cy < b.cy; });
  std::string top_down = phrase(by_height[0]);
  for (size_t i = 1; i < by_height.size(); ++i) top_down += " above " + phrase(by_height[i]);
  return {left_to_right, right_to_left, listed, top_down, "a picture of " + listed};
}

cv::Mat render_scene(const SceneSpec& spec, uint64_t seed, int64_t index, int size) {
  Rng rng(mix_seed(seed, static_cast<uint64_t>(index), 2));
  cv::Mat img = noisy_background(size, rng, 15, 70);
  for (const auto& s : spec.shapes) {
    const double angle = rng.uniform(0, 2 * M_PI);
    draw_shape(img, SynthShapes::shape_names()[s.shape], s.cx, s.cy, s.radius, angle, scene_colours()[s.colour]);
  }
  return img;
}

}  // namespace

std::vector<int64_t> held_out_indices(int64_t n, const std::string& split, double val_fraction, const std::string& source) {
  if (n < 2) throw Error(source + " holds " + std::to_string(n) + " image(s); nothing to hold out for validation");
  auto order = epoch_order(n, /*seed=*/0, /*epoch=*/0);
  const auto held_out = std::clamp<int64_t>(static_cast<int64_t>(val_fraction * static_cast<double>(n)), 1, n - 1);
  std::vector<int64_t> chosen = split == "train" ? std::vector<int64_t>(order.begin(), order.end() - held_out)
                                                 : std::vector<int64_t>(order.end() - held_out, order.end());
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

fs::path coco_image_dir(const fs::path& annotation_file) {
  const std::string stem = annotation_file.stem().string();  // captions_train2017
  const auto underscore = stem.find('_');
  const fs::path root = annotation_file.parent_path().parent_path();
  if (underscore != std::string::npos && fs::is_directory(root / stem.substr(underscore + 1))) return root / stem.substr(underscore + 1);
  return annotation_file.parent_path();
}

std::string coco_annotation_file(const fs::path& root, const std::string& kind, const std::string& split) {
  for (const char* year : {"2017", "2014"}) {
    const fs::path p = root / "annotations" / (kind + "_" + split + year + ".json");
    if (fs::is_regular_file(p)) return p.string();
  }
  return "";
}

const std::vector<std::string>& scene_colour_names() {
  static const std::vector<std::string> names{"red", "green", "blue", "yellow", "purple", "orange"};
  return names;
}

cv::Mat CaptionSet::image(int64_t index) const {
  const auto& entry = images.at(static_cast<size_t>(index));
  if (!entry.file.empty()) return read_image(entry.file);
  return render_scene(scene_spec(synth_seed, entry.image_id, synth_image_size), synth_seed, entry.image_id, synth_image_size);
}

std::string CaptionSet::describe(int64_t index) const {
  const auto& entry = images.at(static_cast<size_t>(index));
  return entry.file.empty() ? "synth:scenes#" + std::to_string(entry.image_id) : entry.file;
}

int64_t CaptionSet::caption_count() const {
  int64_t n = 0;
  for (const auto& image : images) n += static_cast<int64_t>(image.captions.size());
  return n;
}

CaptionSet synth_scenes_split(int64_t n, int image_size, uint64_t seed, const std::string& split) {
  CaptionSet set;
  set.source = "synth:scenes";
  set.synth_image_size = image_size;
  set.synth_seed = mix_seed(seed, split == "train" ? 21 : split == "val" ? 22 : 23);
  const int64_t count = split == "train" ? n : std::max<int64_t>(64, n / 4);
  for (int64_t i = 0; i < count; ++i) {
    const SceneSpec spec = scene_spec(set.synth_seed, i, image_size);
    CaptionedImage image;
    image.image_id = i;
    image.captions = scene_captions(spec);
    for (const auto& s : spec.shapes)
      image.objects.push_back({SynthShapes::shape_names()[s.shape], {s.cx - s.radius, s.cy - s.radius, 2 * s.radius, 2 * s.radius}});
    set.images.push_back(std::move(image));
  }
  return set;
}

CaptionSet load_caption_split(const std::string& path, const std::string& split, double val_fraction) {
  if (split != "train" && split != "val" && split != "test") throw UsageError("invalid --split '" + split + "': expected train, val or test");
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error("data not found: " + path);
  CaptionSet set;
  set.source = path;
  const fs::path p(path);
  auto karpathy_in = [](const fs::path& dir) -> std::string {
    for (const char* name : {"dataset_coco.json", "dataset_flickr8k.json", "dataset_flickr30k.json"})
      if (fs::is_regular_file(dir / name)) return (dir / name).string();
    return "";
  };
  if (fs::is_directory(p)) {
    if (fs::is_directory(p / "annotations")) {
      // A COCO root; a split without its own annotations is held out of train.
      std::string captions = coco_annotation_file(p, "captions", split);
      std::string own_split = split;
      if (captions.empty() && split == "test") captions = coco_annotation_file(p, "captions", own_split = "val");
      const bool held_out = captions.empty();
      if (held_out) captions = coco_annotation_file(p, "captions", own_split = "train");
      if (captions.empty()) throw Error("no annotations/captions_train2017.json (or _" + split + "2017) in " + path);
      const std::string year = captions.substr(captions.size() - 9, 4);
      set.source = captions;
      set.images = read_coco_captions(captions, coco_annotation_file(p, "instances", own_split), p / (own_split + year));
      if (held_out || (split == "train" && coco_annotation_file(p, "captions", "val").empty()))
        set.images = hold_out(std::move(set.images), split, val_fraction, captions);
    } else if (auto karpathy = karpathy_in(p); !karpathy.empty()) {
      return load_caption_split(karpathy, split, val_fraction);
    } else if (fs::is_regular_file(p / "Flickr8k.token.txt")) {
      return load_caption_split((p / "Flickr8k.token.txt").string(), split, val_fraction);
    } else {
      throw Error(path + " holds no caption data (expected annotations/captions_<split>2017.json, dataset_coco.json or Flickr8k.token.txt)");
    }
  } else if (p.extension() == ".txt") {
    set.images = read_flickr8k(path, split, val_fraction);
  } else if (p.extension() == ".tsv") {
    // image<TAB>caption lines; the split held out of the one file.
    set.images = hold_out(read_caption_tsv(path), split == "test" ? "val" : split, val_fraction, path);
  } else {
    const Json peek = read_json_file(path);  // which of the two JSON formats
    if (peek.is_object() && peek.contains("annotations")) {
      // A COCO captions file on its own.
      set.images = hold_out(read_coco_captions(path, "", coco_image_dir(p)), split == "test" ? "val" : split, val_fraction, path);
    } else {
      std::vector<CaptionedImage> images = read_karpathy(path, split);
      if (images.empty() && split == "test") images = read_karpathy(path, "val");
      if (images.empty()) throw Error(path + " has no image in split '" + split + "'");
      set.images = std::move(images);
    }
  }
  if (set.images.empty()) throw Error(path + ": the " + split + " split holds no captioned image");
  std::vector<std::string> files;
  for (const auto& image : set.images) files.push_back(image.file);
  require_files(files, set.source);
  return set;
}

void write_coco_captions(const CaptionSet& set, const std::string& root, const std::string& split) {
  const fs::path image_dir = fs::path(root) / (split + "2017"), annotation_dir = fs::path(root) / "annotations";
  std::error_code ec;
  fs::create_directories(image_dir, ec);
  fs::create_directories(annotation_dir, ec);
  if (ec) throw Error("cannot create " + image_dir.string() + ": " + ec.message());
  Json images = Json::array(), captions = Json::array(), boxes = Json::array(), categories = Json::array();
  std::map<std::string, int64_t> category_ids;
  int64_t caption_id = 0, box_id = 0;
  char name[32];
  for (int64_t i = 0; i < set.size(); ++i) {
    const auto& entry = set.images[static_cast<size_t>(i)];
    const cv::Mat img = set.image(i);
    std::snprintf(name, sizeof(name), "%012lld.png", static_cast<long long>(entry.image_id));
    write_image((image_dir / name).string(), img);
    images.push_back({{"id", entry.image_id}, {"file_name", name}, {"width", img.cols}, {"height", img.rows}});
    for (const auto& caption : entry.captions) captions.push_back({{"id", ++caption_id}, {"image_id", entry.image_id}, {"caption", caption}});
    for (const auto& object : entry.objects) {
      auto [it, added] = category_ids.emplace(object.name, static_cast<int64_t>(category_ids.size()) + 1);
      if (added) categories.push_back({{"id", it->second}, {"name", object.name}, {"supercategory", "shape"}});
      const auto& b = object.box;
      boxes.push_back({{"id", ++box_id}, {"image_id", entry.image_id}, {"category_id", it->second}, {"bbox", {b[0], b[1], b[2], b[3]}},
                       {"area", b[2] * b[3]}, {"iscrowd", 0}});
    }
  }
  auto write = [&](const std::string& file, const Json& doc) { write_file_atomic((annotation_dir / file).string(), doc.dump()); };
  const Json info = {{"description", "zoo " + set.source}};
  write("captions_" + split + "2017.json", {{"info", info}, {"images", images}, {"annotations", captions}});
  write("instances_" + split + "2017.json", {{"info", info}, {"images", images}, {"annotations", boxes}, {"categories", categories}});
}

}  // namespace zoo::data
