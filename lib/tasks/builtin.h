// The built-in tasks and model families, registered once, on first use. The list lives here, in
// the tasks layer above the models it names; lib/core's Registry knows none of them.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "lib/core/registry.h"
#include "lib/tasks/task.h"

namespace zoo {

// The model registry with every built-in family.
const Registry& registry();

// Every task, available or not, in the order `zoo models` lists them.
const std::vector<TaskSpec>& task_specs();
// UsageError naming the unknown name and the known ones.
const TaskSpec& task_spec(const std::string& name);
// UsageError for an unknown task or one not available yet.
std::unique_ptr<Task> create_task(const std::string& name);

}  // namespace zoo
