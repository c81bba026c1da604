// TorchScript export by tracing with the module as `self` (DESIGN.md, "Export and shapes"):
// the C++ module's parameters and buffers become attributes of the scripted module under
// their own names, so Python sees the usual state_dict, and the graph holds no weights.
#pragma once
#include <torch/script.h>
#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lib/core/options.h"

namespace zoo {

// The extra file in every exported archive: the meta of the checkpoint it came from.
inline constexpr const char* kExportMetaFile = "zoo.json";

// A new scripted module mirroring `module`'s parameters, buffers and children (no methods yet).
torch::jit::Module mirror_module(torch::nn::Module& module, const std::string& type_name);

// Traces `fn` (which must use the mirrored module's parameters) on `example_inputs` into method
// `method` of `scripted`; one output is returned as a tensor, several as a tuple. Put the C++
// module in eval mode first.
using TracedFunction = std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>&)>;
void add_traced_method(torch::jit::Module& scripted, const std::string& method, const TracedFunction& fn,
                       const std::vector<torch::Tensor>& example_inputs);

// Traces `forward` (which must use `module`'s parameters) on `example_inputs` into method
// `method` of a new scripted module mirroring `module`'s hierarchy. Run in eval mode.
torch::jit::Module trace_module(torch::nn::Module& module, const std::string& type_name,
                                const std::function<torch::Tensor(const std::vector<torch::Tensor>&)>& forward,
                                const std::vector<torch::Tensor>& example_inputs, const std::string& method = "forward");

// Saves atomically with `meta` as the extra file zoo.json, plus any `extra_files` (name -> text).
void save_torchscript(torch::jit::Module& module, const std::string& path, const Json& meta,
                      const std::map<std::string, std::string>& extra_files = {});

// Loads an exported file onto `device`; fills `meta` from zoo.json. Error naming the file.
torch::jit::Module load_torchscript(const std::string& path, torch::Device device, Json* meta);

// For prediction only: `module` (in eval mode) frozen (its weights become constants of the graph),
// batch norms folded into the convolutions before them and, on the CPU, convolutions run by
// oneDNN in its blocked layout (torch.jit.optimize_for_inference). Cannot be trained or saved.
torch::jit::Module optimize_for_inference(const torch::jit::Module& module);

}  // namespace zoo
