// The caption data files zoo reads, parsed without LibTorch or OpenCV (so a fuzzer can drive them):
// COCO captions and instances JSON, the Karpathy-split JSON, Flickr8k's token file, and COCO
// results files. Every error names the file and the entry at fault.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/core/error.h"

namespace zoo::data {

// An object in an image with its box, (x, y, width, height) in the image's pixels: synth:scenes'
// shapes, or COCO instances when instances_<split>.json sits beside the captions. What the
// pointing accuracy measures attention against.
struct SceneObject {
  std::string name;  // the word naming it: "circle", or the COCO category name
  std::array<double, 4> box{};
};

struct CaptionedImage {
  int64_t image_id = 0;               // COCO's image id (the results format's key)
  std::string file;                   // the image on disk; empty for synth:scenes
  std::vector<std::string> captions;  // as written (raw)
  std::vector<SceneObject> objects;   // may be empty
};

// A JSON field of an entry, with an Error naming `where` (the file and the entry) and the key:
// missing, mistyped, or an integer id that does not fit.
template <class T>
T json_field(const nlohmann::json& entry, const char* key, const std::string& where) {
  if (!entry.is_object() || !entry.contains(key)) throw Error(where + " has no \"" + key + "\"");
  const nlohmann::json& value = entry.at(key);
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // An id must be an integer JSON number that fits: nlohmann would convert 9.4e47 to int64_t
    // with undefined behaviour (found by fuzz_caption_files).
    const bool fits = value.is_number_integer() && !(value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(INT64_MAX));
    if (!fits) throw Error(where + ": \"" + key + "\" is not an integer id (" + value.dump().substr(0, 60) + ")");
  }
  try {
    return value.get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(where + ": \"" + key + "\" has the wrong type (" + value.dump().substr(0, 60) + ")");
  }
}

// The whole file as JSON; Error "PATH is not valid JSON: ..." otherwise.
nlohmann::json read_json_file(const std::string& path);
bool is_blank(const std::string& s);

// captions_*.json: its captioned images, files under `image_dir`; with `instances_path` (may be
// "") also each image's boxes. Errors: not a COCO captions file, a missing or mistyped key, an
// image id twice, an annotation of an unknown image id, an empty caption, an unknown category.
std::vector<CaptionedImage> read_coco_captions(const std::string& captions_path, const std::string& instances_path,
                                               const std::filesystem::path& image_dir);
// A Karpathy-split JSON's images of `split` ("restval" counts as train), files under its folder
// (or its images/ folder).
std::vector<CaptionedImage> read_karpathy(const std::string& path, const std::string& split);
// Flickr8k.token.txt (IMAGE#K<TAB>CAPTION lines): images in order of first appearance, ids from 1.
std::vector<CaptionedImage> read_flickr8k_tokens(const std::string& path, const std::filesystem::path& image_dir);
// A TSV of image<TAB>caption lines (an optional first line "image<TAB>caption" or
// "filepath<TAB>title", open_clip's CSV columns, is a header): one entry per image in order of
// first appearance with every caption it has, ids from 1, a relative image path taken from the
// file's folder. Errors name FILE:LINE: no tab, an empty image or caption, invalid UTF-8.
std::vector<CaptionedImage> read_caption_tsv(const std::string& path);
// A COCO results file, [{"image_id": ID, "caption": TEXT}, ...]: the captions by image id.
// Error naming the file and entry for bad JSON, a missing key, or an id twice.
std::vector<std::pair<int64_t, std::string>> read_caption_results(const std::string& path);

}  // namespace zoo::data
