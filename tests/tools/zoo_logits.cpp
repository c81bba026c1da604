// Test helper: runs a zoo checkpoint (C++ model) or an exported TorchScript file (through
// torch::jit::load) on an input tensor saved by Python's torch.save, and writes the output
// with torch::pickle_save so Python's torch.load reads it.
//   zoo_logits (--checkpoint C | --torchscript F) INPUT.pt OUTPUT.pt [METHOD]
// (METHOD: a TorchScript file's method other than forward, e.g. CLIP's encode_text.) A classify
// or video checkpoint gives logits, an ssl checkpoint its evaluated backbone's embeddings.
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/script.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "lib/core/checkpoint.h"
#include "lib/core/error.h"
#include "lib/core/onednn_matmul.h"
#include "lib/core/registry.h"
#include "lib/export/torchscript.h"
#include "lib/tasks/classify.h"
#include "lib/tasks/ssl.h"
#include "lib/tasks/video.h"

int main(int argc, char** argv) {
  zoo::choose_cpu_kernels(argv);
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr, "usage: zoo_logits (--checkpoint C | --torchscript F) INPUT.pt OUTPUT.pt [METHOD]\n");
    return 2;
  }
  try {
    const std::string mode = argv[1], file = argv[2];
    std::ifstream in(argv[3], std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    torch::Tensor input = torch::jit::pickle_load(bytes).toTensor();
    torch::NoGradGuard no_grad;
    torch::Tensor output;
    if (mode == "--torchscript") {
      auto module = torch::jit::load(file);
      module.eval();
      output = argc == 6 ? module.get_method(argv[5])({input}).toTensor() : module.forward({input}).toTensor();
    } else if (zoo::CheckpointReader reader(file); reader.meta().value("task", "") == "ssl") {
      zoo::SslTask task;
      task.setup_from_meta(reader.meta(), torch::kCPU);
      zoo::load_state_dict(*task.model(), reader.weights(), file);
      task.model()->eval();
      output = task.model_ref().eval_network().backbone->embed(input);
    } else if (reader.meta().value("task", "") == "video") {
      zoo::VideoTask task;
      task.setup_from_meta(reader.meta(), torch::kCPU);
      zoo::load_state_dict(*task.model(), reader.weights(), file);
      task.model()->eval();
      output = std::dynamic_pointer_cast<zoo::models::VideoClassifierImpl>(task.model())->forward(input);
    } else {
      zoo::ClassifyTask task;
      task.setup_from_meta(reader.meta(), torch::kCPU);
      zoo::load_state_dict(*task.model(), reader.weights(), file);
      task.model()->eval();
      output = std::dynamic_pointer_cast<zoo::models::ImageClassifierImpl>(task.model())->forward(input);
    }
    auto data = torch::jit::pickle_save(output.contiguous());
    std::ofstream out(argv[4], std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    return out ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zoo_logits: %s\n", zoo::first_line(e.what()).c_str());
    return 1;
  }
}
