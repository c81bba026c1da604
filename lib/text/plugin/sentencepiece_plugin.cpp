// libzoo_sentencepiece.so: the only code that touches libsentencepiece.
//
// Debian's libsentencepiece carries its own protobuf-lite 3.14, LibTorch's libonnx_proto brings
// protobuf 3.21, and with both in one global symbol scope SentencePiece's generated code binds to
// the wrong one and aborts ("compiled against version 3.14.0 ... installed version 3.21.12").
// zoo therefore loads this plug-in with dlopen(RTLD_LOCAL | RTLD_DEEPBIND): its symbols, and those
// of the libraries it brings, resolve inside its own scope first. lib/text/sentencepiece.cpp is
// the other side; the functions below are its whole interface. Both sides share the process's one
// libstdc++, so they pass std::string and std::vector by pointer. Each leaves `error` empty on
// success and puts the error's text there otherwise.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace {

// Feeds the training sentences to the trainer from memory.
class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorIterator(const std::vector<std::string>& sentences) : sentences_(sentences) {}
  bool done() const override { return index_ >= sentences_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return sentences_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& sentences_;
  size_t index_ = 0;
};

using Processor = sentencepiece::SentencePieceProcessor;

}  // namespace

extern "C" {

void zoo_spm_train(const std::vector<std::string>* sentences, const std::unordered_map<std::string, std::string>* args,
                   std::string* model_proto, std::string* error) {
  VectorIterator iterator(*sentences);
  const auto status = sentencepiece::SentencePieceTrainer::Train(*args, &iterator, model_proto);
  if (!status.ok()) *error = status.ToString();
}

void zoo_spm_load(const std::string* model_proto, void** processor, std::string* error) {
  auto* loaded = new Processor();
  const auto status = loaded->LoadFromSerializedProto(*model_proto);
  if (!status.ok()) {
    delete loaded;
    *error = status.ToString();
    return;
  }
  *processor = loaded;
}

void zoo_spm_free(void* processor) { delete static_cast<Processor*>(processor); }

void zoo_spm_encode(const void* processor, const std::string* text, std::vector<std::string>* pieces, std::string* error) {
  const auto status = static_cast<const Processor*>(processor)->Encode(*text, pieces);
  if (!status.ok()) *error = status.ToString();
}

void zoo_spm_decode(const void* processor, const std::vector<std::string>* pieces, std::string* text, std::string* error) {
  const auto status = static_cast<const Processor*>(processor)->Decode(*pieces, text);
  if (!status.ok()) *error = status.ToString();
}

// Scores of the ordinary pieces (control and unknown ones left out), in id order.
void zoo_spm_scores(const void* processor, std::vector<float>* scores) {
  const auto* p = static_cast<const Processor*>(processor);
  for (int id = 0; id < p->GetPieceSize(); ++id)
    if (!p->IsControl(id) && !p->IsUnknown(id)) scores->push_back(p->GetScore(id));
}

}  // extern "C"
