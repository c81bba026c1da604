// Reading a PyTorch state_dict saved by Python's torch.save(model.state_dict(), f).
//
// LibTorch's own unpickler (torch::pickle_load) maps collections.OrderedDict to None, so it
// cannot read a state_dict; this reader understands the subset of pickle that torch.save
// writes for one: an OrderedDict of name -> tensor, tensors rebuilt by
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter from storages stored as zip records.
#pragma once
#include <string>

#include "lib/core/checkpoint.h"

namespace zoo {

// Error naming the file when it is not a zip-format torch.save file holding a dict of tensors.
NamedTensors read_torch_state_dict(const std::string& path);

}  // namespace zoo
