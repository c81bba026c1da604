// The one training loop of every task (Lightning's Trainer): optimizer, schedule, clipping,
// evaluation cadence, best/last/step checkpoints, metrics.jsonl, train.log, progress, --resume
// (exact, falling back past damaged checkpoints), --init, SIGINT/SIGTERM and the non-finite
// guard; gradient accumulation, mixed precision and data parallelism over the ranks of a
// torchrun launch. docs/RELIABILITY.md and docs/DISTRIBUTED.md say what it promises.
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
  // must already be set up for training, with `shard` (the same one) set on it. In a run of
  // several processes every rank constructs a Trainer and calls fit(); rank 0 alone writes the
  // run folder.
  Trainer(Task& task, Options config, DataShard shard = {});
  TrainSummary fit();

 private:
  Task& task_;
  Options config_;
  DataShard shard_;
};

// Checks the loop's own options (--eval-every, --save-every-*, --keep-last, --on-nan): a
// UsageError naming the first bad one. Trainer::fit calls it; `zoo train` calls it before it
// reads any data.
void validate_loop_options(const Options& config);

// What SIGINT does while a Trainer runs: the loop finishes its step, saves last.ckpt and throws
// Interrupted.
void request_stop();

}  // namespace zoo
