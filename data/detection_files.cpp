#include "data/detection_files.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <set>

#include "data/caption_files.h"
#include "lib/core/error.h"

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace zoo::data {

namespace {

// Four finite numbers.
std::array<double, 4> read_box(const Json& entry, const std::string& where) {
  const auto values = json_field<std::vector<double>>(entry, "bbox", where);
  if (values.size() != 4) throw Error(where + ": \"bbox\" is not [x, y, width, height]");
  for (double v : values)
    if (!std::isfinite(v)) throw Error(where + ": \"bbox\" holds a number that is not finite");
  return {values[0], values[1], values[2], values[3]};
}

std::string box_text(const std::array<double, 4>& b) {
  char text[160];
  std::snprintf(text, sizeof(text), "[%g, %g, %g, %g]", b[0], b[1], b[2], b[3]);
  return text;
}

// iscrowd: 0/1 as COCO writes it, or a JSON boolean.
bool read_crowd(const Json& entry, const std::string& where) {
  if (!entry.contains("iscrowd")) return false;
  if (entry.at("iscrowd").is_boolean()) return entry.at("iscrowd").get<bool>();
  return json_field<int64_t>(entry, "iscrowd", where) != 0;
}

}  // namespace

CocoInstances read_coco_instances(const std::string& path, const fs::path& image_dir, bool skip_bad) {
  const Json doc = read_json_file(path);
  if (!doc.is_object() || !doc.contains("images") || !doc.contains("annotations") || !doc.contains("categories") ||
      !doc.at("images").is_array() || !doc.at("annotations").is_array() || !doc.at("categories").is_array())
    throw Error(path + " is not a COCO instances file (expected \"images\", \"annotations\" and \"categories\" arrays)");
  CocoInstances out;
  std::set<int64_t> category_ids;
  for (size_t i = 0; i < doc.at("categories").size(); ++i) {
    const Json& entry = doc.at("categories")[i];
    const std::string where = path + ": categories[" + std::to_string(i) + "]";
    DetectionCategory category{json_field<int64_t>(entry, "id", where), json_field<std::string>(entry, "name", where)};
    if (!category_ids.insert(category.id).second) throw Error(where + ": category id " + std::to_string(category.id) + " appears twice");
    out.categories.push_back(std::move(category));
  }
  std::map<int64_t, size_t> by_id;
  for (size_t i = 0; i < doc.at("images").size(); ++i) {
    const Json& entry = doc.at("images")[i];
    const std::string where = path + ": images[" + std::to_string(i) + "]";
    DetectionImage image;
    image.image_id = json_field<int64_t>(entry, "id", where);
    image.file = (image_dir / json_field<std::string>(entry, "file_name", where)).string();
    if (entry.contains("width")) image.width = json_field<int64_t>(entry, "width", where);
    if (entry.contains("height")) image.height = json_field<int64_t>(entry, "height", where);
    if (image.width < 0 || image.height < 0) throw Error(where + ": a negative width or height");
    if (!by_id.emplace(image.image_id, out.images.size()).second) throw Error(where + ": image id " + std::to_string(image.image_id) + " appears twice");
    out.images.push_back(std::move(image));
  }
  for (size_t i = 0; i < doc.at("annotations").size(); ++i) {
    const Json& entry = doc.at("annotations")[i];
    const std::string where = path + ": annotations[" + std::to_string(i) + "]";
    // What is wrong with the annotation, if anything: an Error, or a line in `skipped`.
    auto bad = [&](const std::string& what) {
      if (!skip_bad) throw Error(where + ": " + what);
      out.skipped.push_back(where + ": " + what);
    };
    DetectionObject object;
    object.id = entry.contains("id") ? json_field<int64_t>(entry, "id", where) : static_cast<int64_t>(i) + 1;
    object.category_id = json_field<int64_t>(entry, "category_id", where);
    const auto image_id = json_field<int64_t>(entry, "image_id", where);
    object.box = read_box(entry, where);
    object.crowd = read_crowd(entry, where);
    auto& b = object.box;
    object.area = entry.contains("area") ? json_field<double>(entry, "area", where) : b[2] * b[3];
    auto image = by_id.find(image_id);
    if (image == by_id.end()) {
      bad("image_id " + std::to_string(image_id) + " is not in \"images\"");
      continue;
    }
    if (!category_ids.count(object.category_id)) {
      bad("unknown category_id " + std::to_string(object.category_id));
      continue;
    }
    if (!std::isfinite(object.area) || object.area < 0) {
      bad("\"area\" is not a finite number of 0 or more");
      continue;
    }
    if (b[2] <= 0 || b[3] <= 0) {
      bad("box " + box_text(b) + " has zero area (width and height must be positive)");
      continue;
    }
    DetectionImage& owner = out.images[image->second];
    if (owner.width > 0 && owner.height > 0) {
      // Annotation tools round: a box may reach a pixel past an edge, and is clipped there.
      const double w = static_cast<double>(owner.width), h = static_cast<double>(owner.height);
      if (b[0] < -1 || b[1] < -1 || b[0] + b[2] > w + 1 || b[1] + b[3] > h + 1) {
        bad("box " + box_text(b) + " lies outside its " + std::to_string(owner.width) + "x" + std::to_string(owner.height) + " image " +
            std::to_string(image_id));
        continue;
      }
      const double x0 = std::max(b[0], 0.0), y0 = std::max(b[1], 0.0), x1 = std::min(b[0] + b[2], w), y1 = std::min(b[1] + b[3], h);
      if (x1 <= x0 || y1 <= y0) {
        bad("box " + box_text(b) + " has zero area inside its image");
        continue;
      }
      b = {x0, y0, x1 - x0, y1 - y0};
    }
    owner.objects.push_back(object);
  }
  return out;
}

std::vector<detect::DetectionBox> read_detection_results(const std::string& path) {
  const Json doc = read_json_file(path);
  if (!doc.is_array()) throw Error(path + " is not a COCO results file (expected a JSON array of {\"image_id\", \"category_id\", \"bbox\", \"score\"})");
  std::vector<detect::DetectionBox> out;
  out.reserve(doc.size());
  for (size_t i = 0; i < doc.size(); ++i) {
    const std::string where = path + ": [" + std::to_string(i) + "]";
    detect::DetectionBox box;
    box.image_id = json_field<int64_t>(doc[i], "image_id", where);
    box.category_id = json_field<int64_t>(doc[i], "category_id", where);
    box.box = read_box(doc[i], where);
    box.score = json_field<double>(doc[i], "score", where);
    if (!std::isfinite(box.score)) throw Error(where + ": \"score\" is not a finite number");
    out.push_back(box);
  }
  return out;
}

}  // namespace zoo::data
