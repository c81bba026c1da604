// The one training loop of every task (Lightning's Trainer): optimizer, schedule, clipping,
// evaluation cadence, best/last checkpoints, metrics.jsonl, train.log, progress, --resume,
// --init and Ctrl-C.
#pragma once
#include <string>

#include "lib/core/options.h"
#include "lib/tasks/task.h"

namespace zoo {

struct TrainSummary {
  int64_t steps = 0;
  double seconds = 0;
  Json last_metrics;   // of the final evaluation
  Json best_metrics;
  std::string out_dir;
};

class Trainer {
 public:
  // `config` holds every training option (see apps/zoo: the train command's table); the task
  // must already be set up for training.
  Trainer(Task& task, Options config);
  TrainSummary fit();

 private:
  Task& task_;
  Options config_;
};

// Set by SIGINT while a Trainer runs; the loop saves last.ckpt and throws Interrupted.
void request_stop();

}  // namespace zoo
