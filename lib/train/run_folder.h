// What a run folder says about its run, read back by `zoo runs` (a table of runs) and `zoo plot`
// (their curves): config.json, metrics.jsonl, train.log, tb/ and whether a trainer holds the
// folder's lock. Damaged or missing pieces are reported, never fatal: a run killed mid-write is
// still listed and plotted from what is intact.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "lib/core/options.h"
#include "lib/viz/plot.h"

namespace zoo {

struct RunInfo {
  std::string folder;
  Json config = Json::object();     // config.json
  std::string task, model, data;
  int64_t steps = 0, total_steps = 0;
  std::string metric;               // the task's main metric ("" for an unknown task)
  bool higher_is_better = true;
  std::optional<double> best;       // of val_<metric> over the evaluations
  std::optional<double> seconds;    // training time over every attempt
  std::string status;               // finished | stopped | failed | running
  std::string note;                 // why it stopped or failed
  std::vector<Json> evaluations;    // the metrics.jsonl lines that parse, in order
  std::vector<std::string> problems;  // what could not be read ("metrics.jsonl line 3 is not JSON")
};

// The lock a trainer holds on its run folder (OUT/.lock) while it runs.
std::string run_lock_path(const std::string& folder);
// Whether a process holds `folder`'s lock now.
bool run_is_locked(const std::string& folder);

// The lock itself, taken by `zoo train` (rank 0) as soon as the run folder exists and held until
// the process ends, however it ends (the kernel drops it): `zoo runs` tells a running run by it,
// and a second trainer in the same folder is refused (Error naming the lock) before it reads
// data or writes anything.
class RunFolderLock {
 public:
  explicit RunFolderLock(const std::string& folder);
  ~RunFolderLock();
  RunFolderLock(const RunFolderLock&) = delete;
  RunFolderLock& operator=(const RunFolderLock&) = delete;

 private:
  int fd_ = -1;
};

// Error when `folder` has no config.json (it is not a run folder).
RunInfo read_run(const std::string& folder);

// `root` itself when it is a run folder, else the run folders under it (three levels deep at
// most), in name order. Error when root does not exist.
std::vector<std::string> find_runs(const std::string& root);

// The curves of `runs` (labelled by `names`): training and validation loss, `metric` (each run's
// main metric when empty), and the learning rate, against the step. The training loss and the
// learning rate come from tb/ (every --log-every steps) when it has them, else from metrics.jsonl.
std::vector<viz::Panel> run_curves(const std::vector<RunInfo>& runs, const std::string& metric, bool log_scale);

}  // namespace zoo
