// Fuzz target: the caption data files (data/caption_files.h) — the input as a COCO captions JSON
// (with itself as the instances file), a Karpathy-split JSON, a Flickr8k token file, a COCO
// results file and a TSV of image<TAB>caption lines.
#include "data/caption_files.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  const std::string path = fuzz::write_scratch("captions.json", data, size);
  fuzz::expect_only_zoo_errors([&] { data::read_coco_captions(path, path, "/nonexistent"); });
  fuzz::expect_only_zoo_errors([&] { data::read_coco_captions(path, "", "/nonexistent"); });
  fuzz::expect_only_zoo_errors([&] { data::read_karpathy(path, "train"); });
  fuzz::expect_only_zoo_errors([&] { data::read_flickr8k_tokens(path, "/nonexistent"); });
  fuzz::expect_only_zoo_errors([&] { data::read_caption_results(path); });
  const std::string tsv = fuzz::write_scratch("pairs.tsv", data, size);
  fuzz::expect_only_zoo_errors([&] { data::read_caption_tsv(tsv); });
  return 0;
}
