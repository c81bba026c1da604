#include "data/caption_files.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <type_traits>

#include "lib/core/error.h"
#include "lib/text/utf8.h"

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace zoo::data {


Json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  try {
    return Json::parse(in);
  } catch (const Json::exception& e) {
    throw Error(path + " is not valid JSON: " + e.what());
  }
}

bool is_blank(const std::string& s) { return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }); }

// captions_*.json (and, when given, instances_*.json for boxes); images under `image_dir`.
std::vector<CaptionedImage> read_coco_captions(const std::string& captions_path, const std::string& instances_path, const fs::path& image_dir) {
  const Json doc = read_json_file(captions_path);
  if (!doc.is_object() || !doc.contains("images") || !doc.contains("annotations") || !doc.at("images").is_array() ||
      !doc.at("annotations").is_array())
    throw Error(captions_path + " is not a COCO captions file (expected \"images\" and \"annotations\" arrays)");
  std::vector<CaptionedImage> images;
  std::map<int64_t, size_t> by_id;
  for (size_t i = 0; i < doc.at("images").size(); ++i) {
    const Json& entry = doc.at("images")[i];
    const std::string where = captions_path + ": images[" + std::to_string(i) + "]";
    CaptionedImage image;
    image.image_id = json_field<int64_t>(entry, "id", where);
    image.file = (image_dir / json_field<std::string>(entry, "file_name", where)).string();
    if (!by_id.emplace(image.image_id, images.size()).second) throw Error(where + ": image id " + std::to_string(image.image_id) + " appears twice");
    images.push_back(std::move(image));
  }
  for (size_t i = 0; i < doc.at("annotations").size(); ++i) {
    const Json& entry = doc.at("annotations")[i];
    const std::string where = captions_path + ": annotations[" + std::to_string(i) + "]";
    const auto image_id = json_field<int64_t>(entry, "image_id", where);
    const auto caption = json_field<std::string>(entry, "caption", where);
    auto it = by_id.find(image_id);
    if (it == by_id.end()) throw Error(where + " refers to image_id " + std::to_string(image_id) + ", which is not in its \"images\"");
    if (is_blank(caption)) throw Error(where + " (image " + std::to_string(image_id) + ") has an empty caption");
    images[it->second].captions.push_back(caption);
  }
  if (!instances_path.empty()) {
    const Json inst = read_json_file(instances_path);
    std::map<int64_t, std::string> categories;
    if (inst.contains("categories") && inst.at("categories").is_array())
      for (size_t i = 0; i < inst.at("categories").size(); ++i) {
        const std::string where = instances_path + ": categories[" + std::to_string(i) + "]";
        categories[json_field<int64_t>(inst.at("categories")[i], "id", where)] = json_field<std::string>(inst.at("categories")[i], "name", where);
      }
    if (inst.contains("annotations") && inst.at("annotations").is_array())
      for (size_t i = 0; i < inst.at("annotations").size(); ++i) {
        const Json& entry = inst.at("annotations")[i];
        const std::string where = instances_path + ": annotations[" + std::to_string(i) + "]";
        auto it = by_id.find(json_field<int64_t>(entry, "image_id", where));
        if (it == by_id.end()) continue;  // an image without captions
        auto category = categories.find(json_field<int64_t>(entry, "category_id", where));
        if (category == categories.end()) throw Error(where + ": unknown category_id " + entry.at("category_id").dump());
        const auto box = json_field<std::vector<double>>(entry, "bbox", where);
        if (box.size() != 4) throw Error(where + ": \"bbox\" is not [x, y, width, height]");
        images[it->second].objects.push_back({category->second, {box[0], box[1], box[2], box[3]}});
      }
  }
  // torchvision's CocoCaptions lists every image, captioned or not; an image without a
  // caption has nothing to train on or score, so it is left out here.
  images.erase(std::remove_if(images.begin(), images.end(), [](const CaptionedImage& im) { return im.captions.empty(); }), images.end());
  if (images.empty()) throw Error(captions_path + " holds no captioned image");
  return images;
}

std::vector<CaptionedImage> read_karpathy(const std::string& path, const std::string& split) {
  const Json doc = read_json_file(path);
  if (!doc.is_object() || !doc.contains("images") || !doc.at("images").is_array())
    throw Error(path + " is not a Karpathy-split file (expected an \"images\" array)");
  const fs::path root = fs::path(path).parent_path();
  std::vector<CaptionedImage> images;
  for (size_t i = 0; i < doc.at("images").size(); ++i) {
    const Json& entry = doc.at("images")[i];
    const std::string where = path + ": images[" + std::to_string(i) + "]";
    std::string image_split = json_field<std::string>(entry, "split", where);
    if (image_split == "restval") image_split = "train";
    if (image_split != split) continue;
    CaptionedImage image;
    image.image_id = entry.contains("cocoid") ? json_field<int64_t>(entry, "cocoid", where)
                     : entry.contains("imgid") ? json_field<int64_t>(entry, "imgid", where)
                                               : static_cast<int64_t>(i);
    const fs::path relative = fs::path(entry.contains("filepath") ? json_field<std::string>(entry, "filepath", where) : "") /
                              json_field<std::string>(entry, "filename", where);
    image.file = (root / relative).string();
    if (!fs::exists(image.file) && fs::exists(root / "images" / relative)) image.file = (root / "images" / relative).string();
    const Json sentences = entry.contains("sentences") ? entry.at("sentences") : Json::array();
    if (!sentences.is_array()) throw Error(where + ": \"sentences\" is not an array");
    for (size_t k = 0; k < sentences.size(); ++k) {
      const std::string raw = json_field<std::string>(sentences[k], "raw", where + ".sentences[" + std::to_string(k) + "]");
      if (is_blank(raw)) throw Error(where + ".sentences[" + std::to_string(k) + "] has an empty caption");
      image.captions.push_back(raw);
    }
    if (!image.captions.empty()) images.push_back(std::move(image));
  }
  return images;
}

std::vector<CaptionedImage> read_flickr8k_tokens(const std::string& path, const fs::path& image_dir) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  std::vector<CaptionedImage> images;
  std::map<std::string, size_t> by_name;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (is_blank(line)) continue;
    const std::string where = path + ":" + std::to_string(number);
    const auto tab = line.find('\t');
    const auto hash = tab == std::string::npos ? std::string::npos : line.rfind('#', tab);
    if (tab == std::string::npos || hash == std::string::npos) throw Error(where + ": expected IMAGE#K<TAB>CAPTION");
    const std::string name = line.substr(0, hash), caption = line.substr(tab + 1);
    if (name.empty()) throw Error(where + ": no image name before '#'");
    if (is_blank(caption)) throw Error(where + " (image " + name + ") has an empty caption");
    auto [it, added] = by_name.emplace(name, images.size());
    if (added) {
      CaptionedImage image;
      image.image_id = static_cast<int64_t>(images.size()) + 1;
      image.file = (image_dir / name).string();
      images.push_back(std::move(image));
    }
    images[it->second].captions.push_back(caption);
  }
  if (images.empty()) throw Error(path + " holds no caption");
  return images;
}

std::vector<CaptionedImage> read_caption_tsv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  const fs::path folder = fs::path(path).parent_path();
  std::vector<CaptionedImage> images;
  std::map<std::string, size_t> by_file;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (is_blank(line)) continue;
    const std::string where = path + ":" + std::to_string(number);
    if (const size_t bad = text::find_invalid_utf8(line); bad != std::string::npos)
      throw Error(where + ": invalid UTF-8 at byte " + std::to_string(bad) + " of the line");
    if (number == 1 && (line == "image\tcaption" || line == "filepath\ttitle")) continue;  // a header
    const auto tab = line.find('\t');
    if (tab == std::string::npos) throw Error(where + ": expected IMAGE<TAB>CAPTION");
    const std::string name = line.substr(0, tab), caption = line.substr(tab + 1);
    if (is_blank(name)) throw Error(where + ": no image before the tab");
    if (is_blank(caption)) throw Error(where + " (image " + name + ") has an empty caption");
    const fs::path file = fs::path(name).is_absolute() ? fs::path(name) : folder / name;
    auto [it, added] = by_file.emplace(file.string(), images.size());
    if (added) {
      CaptionedImage image;
      image.image_id = static_cast<int64_t>(images.size()) + 1;
      image.file = file.string();
      images.push_back(std::move(image));
    }
    images[it->second].captions.push_back(caption);
  }
  if (images.empty()) throw Error(path + " holds no caption");
  return images;
}

std::vector<std::pair<int64_t, std::string>> read_caption_results(const std::string& path) {
  const Json doc = read_json_file(path);
  if (!doc.is_array()) throw Error(path + " is not a COCO results file (expected an array of {\"image_id\", \"caption\"})");
  std::vector<std::pair<int64_t, std::string>> out;
  std::set<int64_t> seen;
  for (size_t i = 0; i < doc.size(); ++i) {
    const std::string where = path + ": [" + std::to_string(i) + "]";
    const auto id = json_field<int64_t>(doc[i], "image_id", where);
    if (!seen.insert(id).second) throw Error(where + ": image_id " + std::to_string(id) + " has a second caption");
    out.emplace_back(id, json_field<std::string>(doc[i], "caption", where));
  }
  return out;
}

}  // namespace zoo::data
