#include "lib/tasks/builtin.h"

#include <mutex>

#include "lib/core/error.h"
#include "lib/tasks/caption.h"
#include "lib/tasks/classify.h"
#include "lib/tasks/clip.h"
#include "lib/tasks/detect.h"
#include "lib/tasks/lm.h"
#include "lib/tasks/mlm.h"
#include "lib/tasks/ocr.h"
#include "lib/tasks/ssl.h"
#include "lib/tasks/text_classify.h"
#include "lib/tasks/translate.h"
#include "lib/tasks/video.h"
#include "models/bert/register.h"
#include "models/caption/register.h"
#include "models/clip/register.h"
#include "models/detect/register.h"
#include "models/lm/register.h"
#include "models/ocr/register.h"
#include "models/seq2seq/register.h"
#include "models/ssl/register.h"
#include "models/video/register.h"
#include "models/vision/register.h"

namespace zoo {

namespace {

// One entry per task: a new task is its own file and one line here. Tasks whose issues have not
// landed answer "not available yet".
std::vector<TaskSpec> builtin_tasks() {
  return {
      {"classify", "image classification (cross-entropy; top-1/top-5 accuracy)",
       "an image-folder tree DIR/<class>/*.jpg, a folder with train/ and val/ (or test/) trees, or synth:shapes", "synth:shapes",
       [] { return std::make_unique<ClassifyTask>(); }, ClassifyTask::write_synthetic},
      {"translate", "sequence-to-sequence translation (token cross-entropy; BLEU, perplexity)",
       "parallel files PREFIX.SRC / PREFIX.TGT (plain or .gz) with --src/--tgt, a folder of train.* val.* test*.* such files, "
       "a TSV of source<TAB>target lines, or synth:dates",
       "synth:dates", [] { return std::make_unique<TranslateTask>(); }, TranslateTask::write_synthetic},
      {"lm", "language modelling (next-token cross-entropy; loss in nats per token, bits per character, perplexity)",
       "a UTF-8 text file (plain or .gz) or a folder of them, the last --val-fraction held out; or synth:additions", "synth:additions",
       [] { return std::make_unique<LmTask>(); }, LmTask::write_synthetic},
      {"caption", "image captioning (word cross-entropy; BLEU-1..4, CIDEr-D, ROUGE-L as the COCO caption evaluation computes them)",
       "a COCO root DIR/annotations/captions_{train,val}2017.json with DIR/{train,val}2017/, a Karpathy-split JSON, Flickr8k's "
       "Flickr8k.token.txt, or synth:scenes",
       "synth:scenes", [] { return std::make_unique<CaptionTask>(); }, CaptionTask::write_synthetic},
      {"detect", "object detection (DETR's Hungarian set loss; COCO box AP/AR as pycocotools' COCOeval computes them)",
       "a COCO root DIR/annotations/instances_{train,val}2017.json with DIR/{train,val}2017/, an instances JSON file, or synth:boxes",
       "synth:boxes", [] { return std::make_unique<DetectTask>(); }, DetectTask::write_synthetic},
      {"clip", "contrastive image-text pre-training (symmetric InfoNCE; retrieval R@1/5/10, zero-shot top-1/top-5)",
       "a COCO root DIR/annotations/captions_{train,val}2017.json with DIR/{train,val}2017/, a TSV of image<TAB>caption lines, a "
       "Karpathy-split JSON, Flickr8k's token file, or synth:scenes",
       "synth:scenes", [] { return std::make_unique<ClipTask>(); }, CaptionTask::write_synthetic},
      {"ssl", "self-supervised image representations (BYOL, DINO around any classifier backbone; weighted k-NN top-1)",
       "an image-folder tree DIR/<class>/*.jpg (labels used only to evaluate), a folder with train/ and val/ (or test/) trees, or "
       "synth:shapes",
       "synth:shapes", [] { return std::make_unique<SslTask>(); }, ClassifyTask::write_synthetic},
      {"video", "video classification (cross-entropy on clips of T frames; top-1/top-5 accuracy on each video's middle clip)",
       "a class tree DIR/<class>/*.mp4|avi|webm|mkv|mov (decoded by FFmpeg) or DIR/<class>/<clip>/<frame>.jpg frame folders, a "
       "folder with train/ and val/ (or test/) such trees, or synth:motion",
       "synth:motion", [] { return std::make_unique<VideoTask>(); }, VideoTask::write_synthetic},
      {"ocr", "text-line recognition (CTC; CER, WER and exact match, best-path or prefix beam-search decoding)",
       "a folder of line images with labels.tsv (file<TAB>text per line), a folder with train/ and val/ (or test/) such folders, or synth:lines",
       "synth:lines", [] { return std::make_unique<OcrTask>(); }, OcrTask::write_synthetic},
      {"mlm", "masked language modelling, BERT's pretraining (cross-entropy on the masked word pieces; loss, perplexity, accuracy)",
       "a UTF-8 text file (plain or .gz) or a folder of them, the last --val-fraction held out; or synth:additions", "synth:additions",
       [] { return std::make_unique<MlmTask>(); }, LmTask::write_synthetic},
      {"text_classify", "text classification with a BERT's [CLS] (cross-entropy; accuracy, macro-F1, the majority class's share)",
       "a TSV of text<TAB>label lines (split by --val-fraction) or a folder of train.tsv and val.tsv (or dev.tsv), speakers:PLAY.txt "
       "(who speaks each line, among the ten speakers with the most), or synth:topics",
       "synth:topics", [] { return std::make_unique<TextClassifyTask>(); }, TextClassifyTask::write_synthetic},
  };
}

}  // namespace

const Registry& registry() {
  static Registry instance;
  static std::once_flag once;
  std::call_once(once, [] {
    register_vision_models(instance);
    register_seq2seq_models(instance);
    register_lm_models(instance);
    register_caption_models(instance);  // after vision: its encoders are vision classifiers
    register_detect_models(instance);
    register_clip_models(instance);
    register_ssl_models(instance);  // after vision: its backbones are vision classifiers
    register_video_models(instance);  // cnn_lstm's backbones are vision classifiers
    register_ocr_models(instance);
    register_bert_models(instance);
  });
  return instance;
}

const std::vector<TaskSpec>& task_specs() {
  static const std::vector<TaskSpec> tasks = builtin_tasks();
  return tasks;
}

const TaskSpec& task_spec(const std::string& name) {
  for (const auto& t : task_specs())
    if (t.name == name) return t;
  std::string known;
  for (const auto& t : task_specs()) known += (known.empty() ? "" : "|") + t.name;
  throw UsageError("unknown task '" + name + "'; expected " + known);
}

std::unique_ptr<Task> create_task(const std::string& name) {
  const TaskSpec& spec = task_spec(name);
  if (!spec.create) throw UsageError("task '" + name + "' is not available yet");
  return spec.create();
}

}  // namespace zoo
