// The task registry's entries; tasks whose issues have not landed answer "not available yet".
#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/tasks/classify.h"
#include "lib/tasks/lm.h"
#include "lib/tasks/translate.h"

namespace zoo {

void Task::throw_not_available(const std::string& command) const {
  throw UsageError(command + " is not available yet for task " + name());
}

void register_tasks(Registry& registry) {
  registry.add_task({"classify", "image classification (cross-entropy; top-1/top-5 accuracy)",
                     "an image-folder tree DIR/<class>/*.jpg, a folder with train/ and val/ (or test/) trees, or synth:shapes",
                     [] { return std::make_unique<ClassifyTask>(); }});
  registry.add_task({"translate", "sequence-to-sequence translation (token cross-entropy; BLEU, perplexity)",
                     "parallel files PREFIX.SRC / PREFIX.TGT (plain or .gz) with --src/--tgt, a folder of train.* val.* test*.* such files, "
                     "a TSV of source<TAB>target lines, or synth:dates",
                     [] { return std::make_unique<TranslateTask>(); }});
  registry.add_task({"lm", "language modelling (next-token cross-entropy; loss in nats per token, bits per character, perplexity)",
                     "a UTF-8 text file (plain or .gz) or a folder of them, the last --val-fraction held out; or synth:additions",
                     [] { return std::make_unique<LmTask>(); }});
  registry.add_task({"caption", "image captioning", "COCO captions: --data IMAGES_DIR --ann captions_*.json", nullptr});
  registry.add_task({"detect", "object detection", "COCO instances: --data IMAGES_DIR --ann instances_*.json", nullptr});
  registry.add_task({"clip", "contrastive image-text pre-training", "COCO captions", nullptr});
  registry.add_task({"ssl", "self-supervised image representation learning", "an image-folder tree", nullptr});
}

}  // namespace zoo
