// Fuzz target: the detection data files (data/detection_files.h) and COCO box evaluation
// (lib/detect/coco_eval.h) — the input as a COCO instances JSON (bad annotations an Error, then
// skipped), evaluated against its own objects as detections, and as a COCO results file,
// evaluated against itself.
#include "data/detection_files.h"
#include "lib/detect/coco_eval.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zoo;
  const std::string path = fuzz::write_scratch("detections.json", data, size);
  fuzz::expect_only_zoo_errors([&] { data::read_coco_instances(path, "/nonexistent", false); });
  fuzz::expect_only_zoo_errors([&] {
    const auto instances = data::read_coco_instances(path, "/nonexistent", true);
    std::vector<int64_t> images, categories;
    std::vector<detect::GroundTruthBox> truth;
    std::vector<detect::DetectionBox> found;
    for (const auto& c : instances.categories) categories.push_back(c.id);
    for (const auto& image : instances.images) {
      images.push_back(image.image_id);
      for (const auto& o : image.objects) {
        truth.push_back({image.image_id, o.category_id, o.box, o.area, o.crowd});
        found.push_back({image.image_id, o.category_id, {o.box[0] + 1, o.box[1], o.box[2], o.box[3]}, o.area});
      }
    }
    if (truth.size() <= 500 && images.size() <= 500 && categories.size() <= 100) detect::coco_evaluate(images, categories, truth, found);
  });
  fuzz::expect_only_zoo_errors([&] {
    const auto results = data::read_detection_results(path);
    if (results.size() > 500) return;
    std::vector<int64_t> images, categories;
    std::vector<detect::GroundTruthBox> truth;
    for (const auto& r : results) {
      images.push_back(r.image_id), categories.push_back(r.category_id);
      truth.push_back({r.image_id, r.category_id, r.box, r.box[2] * r.box[3], r.score > 0.5});
    }
    detect::coco_evaluate(images, categories, truth, results);
  });
  return 0;
}
