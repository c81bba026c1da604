// Captioned images for the caption task: COCO captions (as torchvision's CocoCaptions reads
// them), the "Karpathy split" JSON, Flickr8k's token file, and the built-in synth:scenes.
#pragma once
#include <opencv2/core.hpp>

#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/caption_files.h"
#include "data/datasets.h"
#include "lib/core/random.h"

namespace zoo::data {

class CaptionSet {
 public:
  std::string source;  // what it was read from, for messages: a file, or synth:scenes
  std::vector<CaptionedImage> images;
  int64_t size() const { return static_cast<int64_t>(images.size()); }
  // Image `index` as RGB uint8: read from its file (Error naming it) or rendered.
  cv::Mat image(int64_t index) const;
  std::string describe(int64_t index) const;  // its file, or synth:scenes#i
  // Total captions.
  int64_t caption_count() const;

  // synth:scenes' renderer, when the set is synthetic.
  int synth_image_size = 0;
  uint64_t synth_seed = 0;
};

// synth:scenes: 1-3 coloured shapes (synth:shapes' six) of six colours on a dark noisy
// background, no two alike, with five captions from a small grammar ("a red circle left of a
// blue square", "a blue square right of a red circle", ...) and each shape's box. Image i is a
// pure function of (seed, i). Splits as synth:shapes': `n` training images, val and test a
// quarter (at least 64), from three disjoint seed streams.
CaptionSet synth_scenes_split(int64_t n, int image_size, uint64_t seed, const std::string& split);
const std::vector<std::string>& scene_colour_names();  // red, green, blue, yellow, purple, orange

// Reads split `split` (train, val or test) of caption data at `path`:
//  - a COCO root: PATH/annotations/captions_<split>2017.json (or 2014) with images in
//    PATH/<split>2017/; boxes from instances_<split>2017.json beside it when present;
//  - a COCO captions JSON file (images beside it, or in ../<split>2017/);
//  - a Karpathy-split JSON (dataset_coco.json, dataset_flickr8k.json: images[].split, filepath,
//    filename, sentences[].raw), images under its folder (or its images/ folder); "restval"
//    counts as train; a folder holding one;
//  - a .tsv of image<TAB>caption lines (read_caption_tsv), val held out of it;
//  - Flickr8k's Flickr8k.token.txt (image#k<TAB>caption), images in Flicker8k_Dataset/ (or
//    Flickr8k_Dataset/, Images/) beside it, splits from Flickr_8k.{train,dev,test}Images.txt
//    when present; a folder holding it.
// A split the data does not have (val when only train annotations exist) is the last
// `val_fraction` of the images after a fixed, seed-independent shuffle (test falls back to
// val), and train is then the rest. Errors name the file and the entry: bad JSON, an annotation
// of an unknown image id, an empty caption, a missing image file.
CaptionSet load_caption_split(const std::string& path, const std::string& split, double val_fraction);

// A split the data does not have, held out of the data's n images: the last val_fraction of a
// fixed, seed-independent shuffle is val (and test), the rest train; sorted positions. Error
// naming `source` when n < 2.
std::vector<int64_t> held_out_indices(int64_t n, const std::string& split, double val_fraction, const std::string& source);

// The annotation file `kind` ("captions", "instances") of `split` in a COCO root:
// ROOT/annotations/KIND_SPLIT2017.json, else KIND_SPLIT2014.json; "" when neither exists.
std::string coco_annotation_file(const std::filesystem::path& root, const std::string& kind, const std::string& split);

// Where the images of an annotation file given on its own are: in ../SPLIT of a COCO root when
// the file is ROOT/annotations/KIND_SPLIT.json and that folder exists, else beside the file.
std::filesystem::path coco_image_dir(const std::filesystem::path& annotation_file);

// One training example of an epoch of captioned images, as captioning and CLIP train (each image
// once per epoch with one of its captions): its slot among the training images, the image's
// index in the set, its pixels, which of its captions, and the example's random stream (for
// augmentation) after that draw.
struct CaptionedExample {
  size_t slot = 0;
  int64_t index = 0;
  cv::Mat image;
  size_t caption = 0;
  Rng rng{0};
};

// Position `position` of an epoch's `order` over `slots` (positions in `set` of the images that
// train; `captions(slot)` of each are to choose from): the next readable image from there
// (next_readable, per --bad-samples), its caption drawn by (seed, epoch, image).
template <class CaptionCount>
CaptionedExample captioned_example(const CaptionSet& set, const std::vector<int64_t>& slots, const CaptionCount& captions,
                                   const std::vector<int64_t>& order, int64_t position, uint64_t seed, int64_t epoch, BadSamples& bad) {
  auto [slot, image] = next_readable(
      order, position, [&](int64_t s) { return set.image(slots[static_cast<size_t>(s)]); },
      [&](int64_t s) { return set.describe(slots[static_cast<size_t>(s)]); }, bad);
  CaptionedExample example{static_cast<size_t>(slot), slots[static_cast<size_t>(slot)], std::move(image), 0, Rng(0)};
  example.rng = Rng(mix_seed(seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(example.index)));
  example.caption = static_cast<size_t>(example.rng.randint(0, static_cast<int64_t>(captions(slot))));
  return example;
}

// Writes `set` as a COCO root: ROOT/<split>2017/<id>.png and
// ROOT/annotations/captions_<split>2017.json, plus instances_<split>2017.json of its objects.
void write_coco_captions(const CaptionSet& set, const std::string& root, const std::string& split);

}  // namespace zoo::data
