#include "lib/export/torchscript.h"

#include <filesystem>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include "lib/core/checkpoint.h"
#include "lib/core/error.h"

namespace zoo {

namespace {

// A TorchScript class name from a C++ module name: "torch::nn::Conv2dImpl" -> "Conv2d".
std::string class_name(std::string name) {
  const auto colon = name.rfind("::");
  if (colon != std::string::npos) name = name.substr(colon + 2);
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "Impl") == 0) name.resize(name.size() - 4);
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) name = "M" + name;
  return name;
}

// Registers every parameter, buffer and child of `source` on `target`, recursively. The
// tensors are shared, not copied: the tracer recognises them and emits attribute reads.
void mirror(const torch::nn::Module& source, torch::jit::Module& target,
            const std::shared_ptr<torch::jit::CompilationUnit>& unit) {
  // Every scripted module has `training` (Python's .eval() and .train() set it, and
  // torch.jit.optimize_for_inference freezes only a module that has it).
  target.register_attribute("training", c10::BoolType::get(), source.is_training());
  for (const auto& p : source.named_parameters(/*recurse=*/false)) target.register_parameter(p.key(), p.value(), false);
  for (const auto& b : source.named_buffers(/*recurse=*/false)) target.register_buffer(b.key(), b.value());
  for (const auto& child : source.named_children()) {
    torch::jit::Module sub(c10::QualifiedName("__torch__.zoo." + class_name(child.value()->name())), unit, /*shouldMangle=*/true);
    mirror(*child.value(), sub, unit);
    target.register_module(child.key(), sub);
  }
}

}  // namespace

torch::jit::Module mirror_module(torch::nn::Module& module, const std::string& type_name) {
  auto unit = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module scripted(c10::QualifiedName("__torch__.zoo." + class_name(type_name)), unit, /*shouldMangle=*/true);
  mirror(module, scripted, unit);
  return scripted;
}

void add_traced_method(torch::jit::Module& scripted, const std::string& method, const TracedFunction& fn,
                       const std::vector<torch::Tensor>& example_inputs) {
  torch::jit::Stack inputs;
  for (const auto& t : example_inputs) inputs.emplace_back(t);
  auto traced = torch::jit::tracer::trace(
      inputs,
      [&](torch::jit::Stack stack) -> torch::jit::Stack {
        std::vector<torch::Tensor> args;
        for (auto& v : stack) args.push_back(v.toTensor());
        auto outputs = fn(args);
        if (outputs.size() == 1) return {outputs[0]};
        std::vector<c10::IValue> elements(outputs.begin(), outputs.end());
        return {c10::ivalue::Tuple::create(std::move(elements))};
      },
      [](const torch::autograd::Variable&) { return std::string(); },
      /*strict=*/false, /*force_outplace=*/false, &scripted);
  auto graph = traced.first->graph;
  torch::jit::EliminateDeadCode(graph);
  auto function = scripted._ivalue()->compilation_unit()->create_function(method, graph);
  scripted.type()->addMethod(function);
}

torch::jit::Module trace_module(torch::nn::Module& module, const std::string& type_name,
                                const std::function<torch::Tensor(const std::vector<torch::Tensor>&)>& forward,
                                const std::vector<torch::Tensor>& example_inputs, const std::string& method) {
  module.eval();
  auto scripted = mirror_module(module, type_name);
  add_traced_method(scripted, method, [&](const std::vector<torch::Tensor>& in) { return std::vector<torch::Tensor>{forward(in)}; },
                    example_inputs);
  return scripted;
}

void save_torchscript(torch::jit::Module& module, const std::string& path, const Json& meta,
                      const std::map<std::string, std::string>& extra_files) {
  torch::jit::ExtraFilesMap extra{{kExportMetaFile, meta.dump()}};
  for (const auto& [name, text] : extra_files) extra[name] = text;
  write_atomically(path, [&](const std::string& tmp) { module.save(tmp, extra); });
}

torch::jit::Module load_torchscript(const std::string& path, torch::Device device, Json* meta) {
  if (!std::filesystem::is_regular_file(path)) throw Error("TorchScript file not found: " + path);
  if (const std::string damage = zip_damage(path); !damage.empty())
    throw Error("cannot load TorchScript file " + path + ": " + damage);
  torch::jit::ExtraFilesMap extra{{kExportMetaFile, ""}};
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, device, extra);
  } catch (const c10::Error& e) {
    throw Error("cannot load TorchScript file " + path + ": " + first_line(e.what_without_backtrace()));
  }
  if (meta) {
    if (extra[kExportMetaFile].empty()) throw Error(path + " was not exported by zoo (no " + kExportMetaFile + " inside)");
    try {
      *meta = Json::parse(extra[kExportMetaFile]);
    } catch (const std::exception& e) {
      throw Error(path + ": unreadable " + kExportMetaFile + ": " + first_line(e.what()));
    }
  }
  module.eval();
  return module;
}

torch::jit::Module optimize_for_inference(const torch::jit::Module& module) {
  // Frozen explicitly: torch::jit::optimize_for_inference freezes only a module with a
  // `training` attribute, which exports before 2026-12-03 lack (it then optimized nothing).
  auto frozen = torch::jit::freeze(module);
  return torch::jit::optimize_for_inference(frozen);
}

}  // namespace zoo
