#include "lib/train/trainer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include <opencv2/imgcodecs.hpp>

#include "lib/core/checkpoint.h"
#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/core/random.h"
#include "lib/core/runtime.h"
#include "lib/train/data_parallel.h"
#include "lib/train/optim.h"
#include "lib/train/precision.h"
#include "lib/train/tensorboard.h"

namespace fs = std::filesystem;

namespace zoo {

namespace {

// The signal that asked the loop to stop (SIGINT or SIGTERM), 0 while none has.
std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int signal) {
  if (g_stop_signal.load() != 0) {
    // The second request: leave at once. Every file is replaced by rename, so nothing is torn;
    // a temporary file left behind is removed by the next run in this folder.
    std::signal(signal, SIG_DFL);
    std::raise(signal);
    return;
  }
  g_stop_signal = signal;
}

// Routes SIGINT and SIGTERM to the loop for the lifetime of a fit() and restores the old
// handlers after. The loop finishes the step it is in, saves, and exits 130 / 143.
struct StopSignalScope {
  struct sigaction previous_int {}, previous_term {};
  StopSignalScope() {
    g_stop_signal = 0;
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, &previous_int);
    sigaction(SIGTERM, &action, &previous_term);
  }
  ~StopSignalScope() {
    sigaction(SIGINT, &previous_int, nullptr);
    sigaction(SIGTERM, &previous_term, nullptr);
  }
};

using Clock = std::chrono::steady_clock;

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
  else std::snprintf(buf, sizeof(buf), "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

// Lines for train.log (and stderr when it is not a live progress bar). Without a path (the
// ranks after 0 of a data-parallel run) it writes nothing: rank 0 speaks for the run.
class Log {
 public:
  explicit Log(const std::string& path) {
    if (path.empty()) return;
    file_.open(path, std::ios::app);
    if (!file_) throw Error("cannot write " + path);
  }
  void line(const std::string& text, bool to_stderr = true) {
    if (!file_.is_open()) return;
    file_ << text << '\n';
    file_.flush();
    if (to_stderr) std::fprintf(stderr, "%s\n", text.c_str());
  }

 private:
  std::ofstream file_;
};

// The progress line on stderr: redrawn in place on a terminal; otherwise (a CI log, a file) a
// line every ~10% of an epoch and at least every `line_seconds` (0: only the ~10% lines).
// train.log gets the ~10% lines either way.
class Progress {
 public:
  Progress(int64_t total_steps, int64_t steps_per_epoch, Log& log, bool shown, double line_seconds)
      : total_(total_steps), per_epoch_(steps_per_epoch), log_(log), tty_(::isatty(2)), shown_(shown), line_seconds_(line_seconds) {}

  void step(int64_t step, int64_t epoch, int64_t batch, double loss, double lr, int64_t examples, double step_seconds) {
    if (!shown_) return;
    seconds_ = seconds_ == 0 ? step_seconds : 0.9 * seconds_ + 0.1 * step_seconds;
    rate_ = rate_ == 0 ? examples / step_seconds : 0.9 * rate_ + 0.1 * examples / step_seconds;
    const double eta = seconds_ * static_cast<double>(total_ - step);
    char text[256];
    std::snprintf(text, sizeof(text), "epoch %lld step %lld/%lld loss %.4f lr %.3g %.1f ex/s ETA %s",
                  (long long)(epoch + 1), (long long)step, (long long)total_, loss, lr, rate_, format_duration(eta).c_str());
    const int64_t every = std::max<int64_t>(1, std::min(per_epoch_, total_) / 10);
    if (tty_) {
      const auto now = Clock::now();
      if (now - last_draw_ > std::chrono::milliseconds(200) || step == total_) {
        const int width = 24;
        const int filled = static_cast<int>(width * (batch) / std::max<int64_t>(1, per_epoch_));
        std::string bar(std::min(filled, width), '=');
        bar.resize(width, ' ');
        std::fprintf(stderr, "\r[%s] %s\033[K", bar.c_str(), text);
        std::fflush(stderr);
        last_draw_ = now;
        drawn_ = true;
      }
      if (step % every == 0 || step == total_) log_.line(text, false);
    } else {
      const auto now = Clock::now();
      const bool mark = step % every == 0 || step == total_;
      const bool due = line_seconds_ > 0 && std::chrono::duration<double>(now - last_draw_).count() >= line_seconds_;
      if (mark) log_.line(text);
      else if (due) std::fprintf(stderr, "%s\n", text);
      if (mark || due) last_draw_ = now;
    }
  }
  // Ends the live line before other output.
  void break_line() {
    if (tty_ && drawn_) std::fprintf(stderr, "\n");
    drawn_ = false;
  }

 private:
  int64_t total_, per_epoch_;
  Log& log_;
  bool tty_, shown_;
  double line_seconds_;
  bool drawn_ = false;
  double seconds_ = 0, rate_ = 0;
  Clock::time_point last_draw_ = Clock::now();
};

// The loop's whole state besides weights, optimizer and RNG: what a checkpoint must carry so
// that a resumed run continues exactly (docs/RELIABILITY.md).
struct LoopState {
  int64_t step = 0, epoch = 0, batch = 0;  // optimizer steps done; the epoch and batch within it next
  double loss_sum = 0;                     // training loss since the last evaluation, for metrics.jsonl
  int64_t loss_count = 0;
  int64_t last_eval_step = -1;
  int64_t nonfinite_skipped = 0;           // --on-nan skip
  int64_t overflow_skipped = 0;            // fp16 steps whose gradients overflowed
  double run_seconds = 0;                  // training time of the attempts before this one
  std::optional<double> best;
  Json best_metrics, last_metrics;
};

// checkpoints/step-00000120.ckpt: sortable by name, the step readable by people.
std::string step_checkpoint_name(int64_t step) {
  char name[48];
  std::snprintf(name, sizeof(name), "step-%08lld.ckpt", static_cast<long long>(step));
  return name;
}

// The step checkpoints in `dir`, newest first.
std::vector<std::pair<int64_t, std::string>> step_checkpoints(const fs::path& dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const std::string prefix = "step-", suffix = ".ckpt";
    if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 18) continue;
    found.emplace_back(std::stoll(digits), entry.path().string());
  }
  std::sort(found.rbegin(), found.rend());
  return found;
}

// The global L2 norm of the gradients (what --clip-grad clips), to catch non-finite ones.
double gradient_norm(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> norms;
  for (const auto& p : parameters)
    if (p.grad().defined()) norms.push_back(p.grad().detach().norm(2));
  return norms.empty() ? 0.0 : torch::stack(norms).norm(2).item<double>();
}

// metrics.jsonl keeps the evaluations up to `step`: a run killed after logging one but before
// saving it evaluates again when resumed, and must not leave the line twice.
void keep_metrics_up_to(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    try {
      if (Json::parse(line).at("step").get<int64_t>() <= step) kept += line + "\n";
    } catch (const std::exception&) {  // a line torn by the kill
    }
  }
  in.close();
  write_file_atomic(path, kept);
}

}  // namespace

void validate_loop_options(const Options& config) {
  if (config.get_int("eval_every") < 0) throw UsageError("invalid --eval-every: expected 0 (each epoch) or a positive step count");
  if (const int64_t every = config.get_int("save_every_steps"); every < 0)
    throw UsageError("invalid --save-every-steps " + std::to_string(every) + ": expected 0 (off) or a positive step count");
  if (const double minutes = config.get_double("save_every_minutes"); !(minutes >= 0) || !std::isfinite(minutes))
    throw UsageError("invalid --save-every-minutes " + format_value(minutes) + ": expected 0 (off) or a positive number of minutes");
  if (config.has("warmup_fraction"))
    if (const double f = config.get_double("warmup_fraction"); !(f >= 0 && f < 1))
      throw UsageError("invalid --warmup-fraction " + format_value(f) + ": expected a number in [0, 1)");
  if (const int64_t keep = config.get_int("keep_last"); keep < 1)
    throw UsageError("invalid --keep-last " + std::to_string(keep) + ": expected 1 or more");
  if (const std::string on_nan = config.get_string("on_nan"); on_nan != "stop" && on_nan != "skip")
    throw UsageError("invalid --on-nan '" + on_nan + "': expected stop or skip");
  if (config.has("log_every"))
    if (const int64_t every = config.get_int("log_every"); every < 1)
      throw UsageError("invalid --log-every " + std::to_string(every) + ": expected 1 or more steps");
  if (config.has("progress_seconds"))
    if (const double seconds = config.get_double("progress_seconds"); !(seconds >= 0) || !std::isfinite(seconds))
      throw UsageError("invalid --progress-seconds " + format_value(seconds) + ": expected 0 (off) or a positive number of seconds");
}

void request_stop() { g_stop_signal = SIGINT; }

namespace {

// One call of Trainer::fit: the run folder, the model's optimizer and schedule, the loop's state,
// and the pieces of the loop, each on one screen: start_or_resume, train_step, evaluate, save.
class TrainingRun {
 public:
  TrainingRun(Task& task, const Options& config, const DataShard& shard);
  TrainSummary fit();

 private:
  // --resume: the newest intact checkpoint's weights, optimizer, RNG and loop state; or a new
  // run (with --init's weights). Then config.json.
  void start_or_resume();
  bool resume();  // false: nothing was saved yet
  void start_new();
  // One optimizer step on the step's micro-batches (one, unless --accum-steps), guarded against
  // a non-finite loss or gradient; the step's loss over all ranks.
  double train_step(const std::vector<Batch>& micro_batches);
  // Each parameter group's learning rate for this step, and whether it trains in this epoch.
  void set_group_learning_rates(double lr);
  void follow_group_epochs();
  // Rank 0's buffers (BatchNorm's running statistics) on every rank.
  void sync_buffers();
  // Evaluates on the validation split: a metrics.jsonl line, best.ckpt when it is the best, and
  // a save.
  void evaluate();
  // A step checkpoint, last.ckpt pointing at it, the ones past --keep-last removed.
  void save_last();
  // TensorBoard (rank 0, unless --no-tensorboard): the run's options, the training scalars every
  // --log-every steps, and at each evaluation its metrics, the validation example's figures and
  // the sample outputs.
  void open_tensorboard();
  void log_training_scalars(double loss, double lr, double step_seconds);
  void log_evaluation();
  Json checkpoint_meta() const;
  // Training time over every attempt of the run, this one's so far included.
  double run_seconds() const { return state_.run_seconds + std::chrono::duration<double>(Clock::now() - start_).count(); }
  std::string describe_batch(const Batch& batch) const;
  bool rank0() const { return shard_.rank == 0; }

  Task& task_;
  const Options& config_;
  const DataShard shard_;
  Collectives* group_;   // null in one process
  const std::string out_;
  const fs::path checkpoints_dir_;
  const std::string last_path_, best_path_, metrics_path_;
  std::shared_ptr<torch::nn::Module> model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<ParameterGroup> groups_;  // optimizer_->param_groups()[i] is groups_[i]
  std::vector<int> group_trains_;       // per group: -1 not yet set, 0 frozen, 1 training
  std::vector<torch::Tensor> parameters_;
  int64_t per_epoch_ = 0, total_ = 0;
  ScheduleConfig schedule_;
  double clip_ = 0;
  int64_t eval_every_ = 0, save_every_steps_ = 0, keep_last_ = 1;
  double save_every_minutes_ = 0;
  std::string on_nan_;
  Precision precision_ = Precision::fp32;
  torch::Device device_{torch::kCPU};
  std::optional<LossScaler> scaler_;        // fp16
  std::unique_ptr<GradientSync> sync_;      // several processes
  std::vector<torch::Tensor> buffers_;      // broadcast from rank 0 before each step, as DDP does
  uint64_t seed_ = 0;
  int64_t last_examples_ = 0;               // the last step's examples over all ranks
  int64_t steps_run_ = 0;                   // by this process (a resumed run's count starts again)
  int stop_signal_ = 0;                     // agreed by every rank after the step
  bool save_due_ = false;                   // rank 0's --save-every-minutes, agreed likewise
  LoopState state_;
  bool resumed_ = false;                    // from a checkpoint (not a new run)
  double last_grad_norm_ = 0;               // the last step's global gradient norm (before clipping)
  std::unique_ptr<tensorboard::EventWriter> tb_;
  int64_t log_every_ = 10;
  struct {                                  // the training scalars since the last TensorBoard point
    double loss_sum = 0, seconds = 0;
    int64_t losses = 0, examples = 0;
  } interval_;
  bool figures_failed_ = false;             // the validation figure failed once: not tried again
  double tb_seconds_ = 0;                   // spent writing the event file (and drawing its figures)
  std::unique_ptr<Log> log_;
  std::unique_ptr<Progress> progress_;
  std::ofstream metrics_file_;
  Clock::time_point start_, last_save_;
};

TrainingRun::TrainingRun(Task& task, const Options& config, const DataShard& shard)
    : task_(task),
      config_(config),
      shard_(shard),
      group_(shard.group),
      out_(config.get_string("out")),
      checkpoints_dir_(fs::path(out_) / "checkpoints"),
      last_path_((fs::path(out_) / "last.ckpt").string()),
      best_path_((fs::path(out_) / "best.ckpt").string()),
      metrics_path_((fs::path(out_) / "metrics.jsonl").string()) {
  if (rank0()) {
    std::error_code ec;
    fs::create_directories(checkpoints_dir_, ec);
    if (ec) throw Error("cannot create run folder " + out_ + ": " + ec.message());
    remove_stale_temporaries(out_);
    remove_stale_temporaries(checkpoints_dir_.string());
  }

  model_ = task_.model();
  const OptimizerConfig opt = optimizer_config(config_);
  groups_ = task_.parameter_groups();
  std::vector<std::vector<torch::Tensor>> group_parameters;
  for (const auto& group : groups_) group_parameters.push_back(group.parameters);
  optimizer_ = make_optimizer(group_parameters, opt);
  for (size_t i = 0; i < groups_.size(); ++i)
    if (groups_[i].weight_decay >= 0) set_weight_decay(optimizer_->param_groups()[i], groups_[i].weight_decay);
  group_trains_.assign(groups_.size(), -1);
  parameters_ = model_->parameters();

  per_epoch_ = task_.batches_per_epoch();
  const int64_t epochs = config_.get_int("epochs"), max_steps = config_.get_int("steps");
  if (epochs <= 0 && max_steps <= 0) throw UsageError("give --epochs or --steps a positive value");
  // --steps, when given, decides alone; otherwise --epochs does.
  total_ = max_steps > 0 ? max_steps : epochs * per_epoch_;
  schedule_.name = config_.get_string("sched");
  schedule_.lr = opt.lr;
  // --warmup-steps when given, else --warmup-fraction of the run (a recipe's warm-up fits any length).
  schedule_.warmup_steps = config_.get_int("warmup_steps");
  if (schedule_.warmup_steps == 0 && config_.has("warmup_fraction"))
    schedule_.warmup_steps = std::llround(config_.get_double("warmup_fraction") * static_cast<double>(total_));
  schedule_.total_steps = total_;
  schedule_.min_lr = config_.get_double("min_lr");
  schedule_.steps_per_epoch = per_epoch_;
  schedule_.decay_epochs = config_.get_double("decay_epochs");
  schedule_.decay_rate = config_.get_double("decay_rate");
  lr_at(schedule_, 0);  // validates the schedule's options before any work
  validate_loop_options(config_);
  clip_ = config_.get_double("clip_grad");
  eval_every_ = config_.get_int("eval_every");
  save_every_steps_ = config_.get_int("save_every_steps");
  save_every_minutes_ = config_.get_double("save_every_minutes");
  keep_last_ = config_.get_int("keep_last");
  on_nan_ = config_.get_string("on_nan");
  seed_ = config_.has("seed") ? static_cast<uint64_t>(config_.get_int("seed")) : 0;
  if (!parameters_.empty()) device_ = parameters_.front().device();
  precision_ = parse_precision(config_.has("precision") ? config_.get_string("precision") : "fp32");
  check_precision(precision_, device_);
  if (precision_ == Precision::fp16) scaler_.emplace();
  log_ = std::make_unique<Log>(rank0() ? (fs::path(out_) / "train.log").string() : std::string());
  if (group_) {
    sync_ = std::make_unique<GradientSync>(parameters_, *group_);
    buffers_ = model_->buffers();
  }
}


void TrainingRun::start_or_resume() {
  // config.json is written once the run's start is settled, below: without it, an interrupted
  // attempt died before that, and --resume began from the options given (cmd_train).
  std::error_code ec;
  const bool config_written = fs::exists(fs::path(out_) / "config.json", ec);
  if (config_.get_bool("resume")) {
    const bool resumed = resumed_ = resume();
    if (!resumed && !config_written)
      log_->line("--resume: " + out_ + " holds no config.json (the interrupted run stopped before writing it); starting at step 0 with the options given");
    else if (!resumed)
      log_->line("--resume: nothing saved in " + out_ + " yet; starting at step 0");
    if (rank0()) keep_metrics_up_to(metrics_path_, state_.step);
  } else {
    start_new();
  }
  // Every rank starts from rank 0's weights and buffers (a new run's are equal already, being
  // seeded alike; this makes it so whatever each rank read).
  if (group_) broadcast_module(*model_, *group_);
  // Fault injection (tests): die with the data read and train.log begun, but no config.json.
  if (fault_injected("kill-while-starting")) std::raise(SIGKILL);
  if (!rank0()) return;
  Json recorded = config_.json();
  recorded["world_size"] = shard_.world_size;  // a fact of this run, not an option
  write_file_atomic((fs::path(out_) / "config.json").string(), recorded.dump(2) + "\n");
}

bool TrainingRun::resume() {
  // The newest checkpoint that reads back intact: a step checkpoint, else last.ckpt (which is
  // one of them, or a run from before step checkpoints existed). Rank 0 chooses; the others
  // read the one it chose (the run folder is on storage every node sees, docs/DISTRIBUTED.md).
  std::error_code ec;
  std::vector<std::string> candidates;
  if (rank0()) {
    for (const auto& [step, path] : step_checkpoints(checkpoints_dir_)) candidates.push_back(path);
    if (fs::exists(last_path_)) candidates.push_back(last_path_);
  }
  std::unique_ptr<CheckpointReader> reader;
  std::string rejected;
  if (group_ && !rank0()) {
    const std::string chosen = gather_text(*group_, "").at(0);
    if (chosen.empty()) return false;
    try {
      reader = std::make_unique<CheckpointReader>(chosen);
    } catch (const Error& e) {
      throw Error("rank " + std::to_string(shard_.rank) + " cannot read " + chosen + ", which rank 0 resumes from (is --out on storage every node shares?): " +
                  first_line(e.what()));
    }
  }
  for (const auto& path : candidates) {
    try {
      auto candidate = std::make_unique<CheckpointReader>(path);
      if (!candidate->has_training_state()) throw Error(path + " holds no optimizer state");
      reader = std::move(candidate);
      break;
    } catch (const Error& e) {
      log_->line("--resume: skipping " + path + ": " + first_line(e.what()));
      rejected += (rejected.empty() ? "" : "; ") + first_line(e.what());
      // Out of the way, kept for inspection; the next save would otherwise sort after it.
      if (path != last_path_) fs::rename(path, path + ".corrupt", ec);
    }
  }
  if (group_ && rank0()) gather_text(*group_, reader ? reader->path() : std::string());
  if (!reader && !candidates.empty()) throw Error("--resume: no intact checkpoint in " + out_ + ": " + rejected);
  if (!reader) return false;
  const Json& meta = reader->meta();
  if (meta.at("task") != task_.name() || meta.at("model") != task_.meta().at("model"))
    throw UsageError("--resume: " + reader->path() + " holds a " + meta.at("task").get<std::string>() + "/" +
                     meta.at("model").get<std::string>() + " run, not " + task_.name() + "/" + task_.meta().at("model").get<std::string>());
  load_state_dict(*model_, reader->weights(), reader->path());
  reader->load_optimizer(*optimizer_);
  reader->restore_rng();
  task_.restore_training_state(reader->task_state());
  const Json& progress = meta.at("progress");
  state_.step = progress.at("step");
  state_.epoch = progress.at("epoch");
  state_.batch = progress.at("batch");
  state_.loss_sum = progress.value("loss_sum", 0.0);
  state_.loss_count = progress.value("loss_count", int64_t{0});
  state_.last_eval_step = progress.value("last_eval_step", int64_t{-1});
  state_.nonfinite_skipped = progress.value("nonfinite_skipped", int64_t{0});
  state_.overflow_skipped = progress.value("overflow_skipped", int64_t{0});
  state_.run_seconds = progress.value("run_seconds", 0.0);
  if (scaler_ && meta.contains("loss_scale")) scaler_->restore(meta.at("loss_scale"));
  if (meta.contains("best") && !meta.at("best").is_null()) state_.best = meta.at("best").get<double>();
  if (meta.contains("best_metrics")) state_.best_metrics = meta.at("best_metrics");
  if (meta.contains("metrics")) state_.last_metrics = meta.at("metrics");
  log_->line("resumed " + reader->path() + " at step " + std::to_string(state_.step) + " (epoch " + std::to_string(state_.epoch + 1) + ")");
  return true;
}

void TrainingRun::start_new() {
  // A new run in a used folder: the old run's step checkpoints must not be resumed into it.
  std::error_code ec;
  if (rank0()) {
    const auto previous = step_checkpoints(checkpoints_dir_);
    if (!previous.empty() || fs::exists(last_path_))
      log_->line("starting a new run in " + out_ + " (its previous checkpoints are replaced; --resume continues a run)");
    for (const auto& [step, path] : previous) fs::remove(path, ec);
    fs::remove(last_path_, ec);
    keep_metrics_up_to(metrics_path_, -1);
  }
  if (!config_.has("init") || config_.get_string("init").empty()) return;
  const std::string init = config_.get_string("init");
  CheckpointReader reader(init);
  NamedTensors weights = reader.weights();
  task_.adapt_init_weights(reader.meta(), weights);
  auto skipped = load_state_dict(*model_, weights, init, task_.head_prefixes());
  std::string note = "initialised from " + init;
  for (const auto& name : skipped) note += "; kept new " + name + " (shape differs)";
  log_->line(note);
}

Json TrainingRun::checkpoint_meta() const {
  Json meta = task_.meta();
  meta["config"] = config_.json();
  // The data order is a function of (seed, epoch) (Task::train_batches): epoch and batch place it.
  meta["progress"] = {{"step", state_.step}, {"epoch", state_.epoch}, {"batch", state_.batch}, {"total_steps", total_},
                      {"loss_sum", state_.loss_sum}, {"loss_count", state_.loss_count}, {"last_eval_step", state_.last_eval_step},
                      {"nonfinite_skipped", state_.nonfinite_skipped}, {"overflow_skipped", state_.overflow_skipped},
                      {"run_seconds", run_seconds()}};
  if (scaler_) meta["loss_scale"] = scaler_->state();
  meta["best"] = state_.best ? Json(*state_.best) : Json(nullptr);
  meta["best_metrics"] = state_.best_metrics;
  meta["metrics"] = state_.last_metrics;
  return meta;
}

void TrainingRun::save_last() {
  // Written whole under its own name, then last.ckpt points at it; the previous ones stay
  // until --keep-last newer ones exist. Every rank comes here together (the task's state may be
  // gathered over them); rank 0 writes while the others wait at the barrier.
  auto task_state = task_.training_state();
  if (rank0()) {
    const std::string step_path = (checkpoints_dir_ / step_checkpoint_name(state_.step)).string();
    save_checkpoint(step_path, {checkpoint_meta(), state_dict(*model_), optimizer_.get(), true, task_state});
    link_atomically(step_path, last_path_);
    std::error_code ec;
    const auto saved = step_checkpoints(checkpoints_dir_);
    for (size_t i = static_cast<size_t>(keep_last_); i < saved.size(); ++i) fs::remove(saved[i].second, ec);
  }
  if (group_) group_->barrier();
  last_save_ = Clock::now();
}

void TrainingRun::evaluate() {
  progress_->break_line();
  sync_buffers();
  const auto t0 = Clock::now();
  Json result = task_.evaluate("val");
  state_.last_metrics = result.at("metrics");
  const std::string metric = task_.main_metric();
  const double value = state_.last_metrics.at(metric).get<double>();
  Json line = {{"step", state_.step}, {"epoch", static_cast<double>(state_.step) / per_epoch_},
               {"lr", lr_at(schedule_, std::max<int64_t>(0, state_.step - 1))},
               {"train_loss", state_.loss_count ? Json(state_.loss_sum / state_.loss_count) : Json(nullptr)}, {"examples", result.at("examples")},
               {"eval_seconds", std::chrono::duration<double>(Clock::now() - t0).count()},
               {"elapsed_seconds", std::chrono::duration<double>(Clock::now() - start_).count()}, {"run_seconds", run_seconds()}};
  for (auto it = state_.last_metrics.begin(); it != state_.last_metrics.end(); ++it) line["val_" + it.key()] = it.value();
  if (rank0()) {
    metrics_file_ << line.dump() << '\n';
    metrics_file_.flush();
  }
  std::string text = "eval step " + std::to_string(state_.step) + ":";
  for (auto it = state_.last_metrics.begin(); it != state_.last_metrics.end(); ++it) {
    char value_text[64];
    std::snprintf(value_text, sizeof(value_text), " %s %.4f", it.key().c_str(), it.value().get<double>());
    text += value_text;
  }
  state_.loss_sum = 0, state_.loss_count = 0;
  state_.last_eval_step = state_.step;
  const bool higher = task_.higher_is_better();
  if (!state_.best || (higher ? value > *state_.best : value < *state_.best)) {
    state_.best = value;
    state_.best_metrics = state_.last_metrics;
    if (rank0()) save_checkpoint(best_path_, {checkpoint_meta(), state_dict(*model_), nullptr, false});
    text += " (best)";
  }
  log_->line(text);
  for (const auto& notice : task_.take_notices()) log_->line(notice);
  if (tb_) log_evaluation();
  save_last();
}

void TrainingRun::open_tensorboard() {
  if (!rank0() || (config_.has("no_tensorboard") && config_.get_bool("no_tensorboard"))) return;
  log_every_ = config_.has("log_every") ? config_.get_int("log_every") : 10;
  if (!tensorboard::available()) {
    log_->line("tensorboard: this zoo was built without protobuf; no event files are written (--no-tensorboard silences this)");
    return;
  }
  const std::string folder = (fs::path(out_) / "tb").string();
  tb_ = std::make_unique<tensorboard::EventWriter>(folder, resumed_ ? std::optional<int64_t>(state_.step) : std::nullopt);
  // The options as the text plugin shows them: a new run's at step 0, a resumed attempt's where it resumed.
  const std::string options = "```\n" + config_.json().dump(2) + "\n```";
  tb_->text("config", state_.step, resumed_ ? "resumed at step " + std::to_string(state_.step) + " with\n\n" + options : options);
  tb_->flush();
}

void TrainingRun::log_training_scalars(double loss, double lr, double step_seconds) {
  if (std::isfinite(loss)) interval_.loss_sum += loss, ++interval_.losses;
  interval_.seconds += step_seconds;
  interval_.examples += last_examples_;
  if (state_.step % log_every_ != 0 && state_.step != total_) return;
  const auto t0 = Clock::now();
  // The loss is the mean over the interval's steps (a point per step would be noise at batch
  // size 1); the rate, the gradient norm and the epoch are the step's.
  if (interval_.losses > 0) tb_->scalar("train/loss", state_.step, interval_.loss_sum / static_cast<double>(interval_.losses));
  tb_->scalar("train/lr", state_.step, lr);
  tb_->scalar("train/grad_norm", state_.step, last_grad_norm_);
  if (interval_.seconds > 0) tb_->scalar("train/examples_per_s", state_.step, static_cast<double>(interval_.examples) / interval_.seconds);
  tb_->scalar("train/epoch", state_.step, static_cast<double>(state_.step) / static_cast<double>(std::max<int64_t>(1, per_epoch_)));
  tb_->flush();
  interval_ = {};
  tb_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
}

void TrainingRun::log_evaluation() {
  const auto t0 = Clock::now();
  for (auto it = state_.last_metrics.begin(); it != state_.last_metrics.end(); ++it)
    tb_->scalar("val/" + it.key(), state_.step, it.value().get<double>());
  if (!figures_failed_) {
    // The figures go through a scratch PNG beside the event file, then into it.
    const fs::path scratch = fs::path(tb_->path()).parent_path() / ".validation_example.png";
    try {
      for (const auto& path : task_.visualize_validation_example(scratch.string())) {
        const std::string png = read_file(path);
        const cv::Mat image = cv::imdecode(cv::Mat(1, static_cast<int>(png.size()), CV_8UC1, const_cast<char*>(png.data())), cv::IMREAD_COLOR);
        std::string tag = fs::path(path).stem().string();  // ".validation_example" or ".validation_example_encoder"
        tag = "attention" + (tag.size() > scratch.stem().string().size() ? "/" + tag.substr(scratch.stem().string().size() + 1) : std::string());
        if (!image.empty()) tb_->image_png(tag, state_.step, png, image.rows, image.cols);
        std::error_code ec;
        fs::remove(path, ec);
      }
    } catch (const std::exception& e) {
      figures_failed_ = true;
      log_->line("tensorboard: no figure of the validation example (" + first_line(e.what()) + "); the run goes on without them");
    }
  }
  const std::string samples = task_.sample_outputs();
  if (!samples.empty()) tb_->text("samples", state_.step, samples);
  tb_->flush();
  tb_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
}

// Names the first examples of a batch for messages about it.
std::string TrainingRun::describe_batch(const Batch& batch) const {
  std::string names;
  const size_t shown = std::min<size_t>(batch.ids.size(), 4);
  for (size_t i = 0; i < shown; ++i) names += (i ? ", " : "") + task_.describe_sample(batch.ids[i]);
  if (batch.ids.size() > shown) names += " and " + std::to_string(batch.ids.size() - shown) + " more";
  return names.empty() ? std::string("(unknown)") : names;
}

void TrainingRun::set_group_learning_rates(double lr) {
  // A group's own peak rate follows the run's schedule in proportion.
  auto& param_groups = optimizer_->param_groups();
  for (size_t i = 0; i < groups_.size(); ++i)
    param_groups[i].options().set_lr(groups_[i].lr > 0 ? lr * groups_[i].lr / schedule_.lr : lr);
}

void TrainingRun::follow_group_epochs() {
  // A function of the epoch alone, so a resumed run freezes and thaws exactly as an unbroken one.
  for (size_t i = 0; i < groups_.size(); ++i) {
    const auto& group = groups_[i];
    if (group.first_epoch <= 0) continue;
    const int trains = state_.epoch >= group.first_epoch ? 1 : 0;
    if (trains == group_trains_[i]) continue;
    for (auto p : group.parameters) p.set_requires_grad(trains == 1);
    if (trains && group_trains_[i] == 0) {
      progress_->break_line();
      log_->line("epoch " + std::to_string(state_.epoch + 1) + ": the " + group.name + " trains from now on");
    } else if (!trains) {
      log_->line("the " + group.name + " is frozen until epoch " + std::to_string(group.first_epoch + 1));
    }
    group_trains_[i] = trains;
  }
}

void TrainingRun::sync_buffers() {
  // Running statistics and other buffers are rank 0's on every rank, as DistributedDataParallel
  // keeps them (its broadcast_buffers): evaluations and checkpoints see one model.
  if (!group_ || buffers_.empty()) return;
  torch::NoGradGuard no_grad;
  group_->broadcast(buffers_, 0);
}

double TrainingRun::train_step(const std::vector<Batch>& micro_batches) {
  const double lr = lr_at(schedule_, state_.step);
  set_group_learning_rates(lr);
  follow_group_epochs();
  task_.before_step(state_.step, total_, static_cast<double>(state_.step) / static_cast<double>(std::max<int64_t>(1, per_epoch_)));
  model_->train();
  if (group_) {
    sync_buffers();
    // Each rank draws its own dropout masks, from (seed, step, rank): a resumed run draws the same.
    seed_everything(mix_seed(seed_, 0x7374657000ULL + static_cast<uint64_t>(state_.step), static_cast<uint64_t>(shard_.rank)));
  }
  // Each micro-batch's share of the step: its loss averages over loss_weight terms, the step's
  // loss over all of them on every rank (as one process computes the whole batch's mean).
  std::vector<double> weights;
  double local_weight = 0;
  for (const auto& batch : micro_batches) local_weight += weights.emplace_back(batch.size > 0 ? task_.loss_weight(batch) : 0.0);
  const double total_weight = sum_over_ranks(group_, {local_weight})[0];
  const auto world = static_cast<double>(shard_.world_size);

  optimizer_->zero_grad();
  double loss_sum = 0, bad_loss = 0, last_value = 0;
  bool loss_finite = true;
  int64_t examples = 0;
  for (size_t k = 0; k < micro_batches.size(); ++k) {
    // Gradients are averaged over ranks during the last micro-batch's backward pass only.
    if (sync_) sync_->arm(k + 1 == micro_batches.size());
    const Batch& batch = micro_batches[k];
    if (batch.size == 0) continue;  // this rank's part of a short last batch is empty
    // d(mean over the step) = sum_k w_k / W_total * d(mean over micro-batch k); the average over
    // ranks divides by their number, which the share multiplies back.
    const double share = weights[k] / total_weight * world;
    torch::Tensor loss;
    std::optional<torch::Tensor> backward_done;
    {
      AutocastScope autocast(precision_, device_);
      backward_done = task_.loss_with_backward(batch, share * (scaler_ ? scaler_->scale() : 1.0));
      loss = (backward_done ? *backward_done : task_.loss(batch)).to(torch::kFloat32);
    }
    double value = loss.item<double>();
    if (fault_injected("nan-loss")) value = std::nan("");  // tests of --on-nan
    examples += batch.size;
    if (!std::isfinite(value)) {
      loss_finite = false, bad_loss = value;
      // One process stops computing; ranks go on, so that every collective is still matched.
      if (!group_) break;
    }
    loss_sum += weights[k] * value;
    last_value = value;
    if (backward_done) continue;
    torch::Tensor objective = share == 1.0 ? loss : loss * share;
    if (scaler_) objective = scaler_->scale_loss(objective);
    objective.backward();
  }
  if (sync_) sync_->finish();
  // The step's loss, and whether any rank's was not finite, a signal came, or a save is due.
  const bool minutes_due = rank0() && save_every_minutes_ > 0 &&
                           std::chrono::duration<double>(Clock::now() - last_save_).count() >= 60 * save_every_minutes_;
  const int local_signal = g_stop_signal.load();
  const auto agreed = sum_over_ranks(group_, {loss_sum, loss_finite ? 0.0 : 1.0, static_cast<double>(examples), local_signal ? 1.0 : 0.0, minutes_due ? 1.0 : 0.0});
  // (One micro-batch in one process: its loss as computed, not w * loss / w.)
  const double step_loss = agreed[1] > 0                           ? (loss_finite ? std::nan("") : bad_loss)
                           : !group_ && micro_batches.size() == 1 ? last_value
                                                                   : agreed[0] / total_weight;
  stop_signal_ = agreed[3] > 0 ? (local_signal ? local_signal : SIGTERM) : 0;
  save_due_ = agreed[4] > 0;
  last_examples_ = static_cast<int64_t>(agreed[2]);

  std::string nonfinite;  // what went wrong, if anything did
  if (agreed[1] > 0) {
    nonfinite = "the loss is " + format_value(step_loss) + (group_ ? " on " + std::to_string(static_cast<int64_t>(agreed[1])) + " rank(s)" : "");
  } else {
    // fp16: gradients divided back by the loss scale; an overflow skips the step, not the run.
    if (scaler_ && (!scaler_->unscale(parameters_) || fault_injected("grad-overflow"))) {
      scaler_->update(false);
      optimizer_->zero_grad();
      ++state_.step, ++state_.batch, ++state_.overflow_skipped;
      progress_->break_line();
      log_->line("fp16: the gradients overflowed at step " + std::to_string(state_.step) + "; step skipped, loss scale now " +
                 format_value(scaler_->scale()));
      return step_loss;
    }
    const double norm = clip_ > 0 ? torch::nn::utils::clip_grad_norm_(parameters_, clip_) : gradient_norm(parameters_);
    if (!std::isfinite(norm)) nonfinite = "the gradient norm is " + format_value(norm);
    last_grad_norm_ = norm;
  }
  ++state_.step, ++state_.batch;
  if (nonfinite.empty()) {
    optimizer_->step();
    task_.after_step();
    if (scaler_) scaler_->update(true);
    state_.loss_sum += step_loss, ++state_.loss_count;
    return step_loss;
  }
  // Nothing of this step is applied: stop (naming the step and its samples) or skip it. Every
  // rank decides alike: the loss flags and the averaged gradients are the same on each.
  const Batch& batch = micro_batches.front();
  const std::string where = "step " + std::to_string(state_.step) + " (epoch " + std::to_string(state_.epoch + 1) + ", batch " +
                            std::to_string(state_.batch) + ")";
  progress_->break_line();
  if (on_nan_ == "stop")
    throw Error(nonfinite + " at " + where + ", on " + describe_batch(batch) + "; training stopped, " +
                (fs::exists(last_path_) ? last_path_ + " holds the last good state" : std::string("nothing was saved yet")) +
                " (lower --lr, set --clip-grad, or pass --on-nan skip)");
  optimizer_->zero_grad();
  ++state_.nonfinite_skipped;
  log_->line("--on-nan skip: " + nonfinite + " at " + where + ", on " + describe_batch(batch) + "; step skipped (" +
             std::to_string(state_.nonfinite_skipped) + " so far)");
  return step_loss;
}

TrainSummary TrainingRun::fit() {
  start_or_resume();
  last_save_ = start_ = Clock::now();
  progress_ = std::make_unique<Progress>(total_, per_epoch_, *log_, rank0(), config_.has("progress_seconds") ? config_.get_double("progress_seconds") : 30.0);
  open_tensorboard();
  if (rank0()) {
    metrics_file_.open(metrics_path_, std::ios::app);
    if (!metrics_file_) throw Error("cannot write " + metrics_path_);
  }
  log_->line("training " + task_.meta().at("model").get<std::string>() + " for " + std::to_string(total_) + " steps (" +
             std::to_string(per_epoch_) + " per epoch, " + std::to_string(task_.examples_per_epoch()) + " examples), run folder " + out_);
  if (group_ || shard_.accum_steps > 1 || precision_ != Precision::fp32) {
    std::string how = group_ ? std::to_string(shard_.world_size) + " processes (" +
                                   resolve_dist_backend(config_.has("dist_backend") ? config_.get_string("dist_backend") : "auto", device_.is_cuda()) + ", " +
                                   std::to_string(sync_->buckets()) + " gradient buckets)"
                             : std::string("1 process");
    how += ", global batch " + std::to_string(config_.get_int("batch_size"));
    if (shard_.accum_steps > 1) how += " in " + std::to_string(shard_.accum_steps) + " accumulated micro-batches per rank";
    how += ", precision " + precision_name(precision_);
    log_->line((group_ ? "data parallel: " : "training in ") + how);
  }
  if (precision_ == Precision::bf16 && !device_.is_cuda() && !cpu_has_bf16())
    log_->line("--precision bf16: this CPU has no AVX-512 BF16 or AMX instructions; bf16 runs in software (correct, but slower than fp32)");
  StopSignalScope stop_signals;
  try {
    while (state_.step < total_) {
      auto batches = task_.train_batches(state_.epoch, state_.batch);
      while (state_.step < total_) {
        const auto t0 = Clock::now();
        // The step's micro-batches: --accum-steps of them (this rank's parts of one global batch).
        std::vector<Batch> micro_batches;
        while (static_cast<int64_t>(micro_batches.size()) < shard_.accum_steps) {
          auto batch = batches->next();
          if (!batch) break;
          micro_batches.push_back(std::move(*batch));
        }
        if (static_cast<int64_t>(micro_batches.size()) < shard_.accum_steps) break;
        const double lr = lr_at(schedule_, state_.step);
        const double loss = train_step(micro_batches);
        ++steps_run_;
        if (tb_) log_training_scalars(loss, lr, std::chrono::duration<double>(Clock::now() - t0).count());
        for (const auto& notice : task_.take_notices()) {
          progress_->break_line();
          log_->line(notice);
        }
        progress_->step(state_.step, state_.epoch, state_.batch, loss, lr, last_examples_, std::chrono::duration<double>(Clock::now() - t0).count());
        if (const int signal = stop_signal_) {
          progress_->break_line();
          save_last();
          log_->line(std::string(signal == SIGTERM ? "terminated" : "interrupted") + " at step " + std::to_string(state_.step) + "; saved " +
                     last_path_ + " (continue with --resume --out " + out_ + ")");
          throw Interrupted("interrupted", 128 + signal);
        }
        if (eval_every_ > 0 && state_.step % eval_every_ == 0) evaluate();
        else if (save_every_steps_ > 0 && state_.step % save_every_steps_ == 0) save_last();
        else if (save_due_) save_last();
        // Fault injection (tests): a worker that dies between steps (docs/DISTRIBUTED.md's restarts).
        if (fault_injected("kill-after-step")) std::raise(SIGKILL);
      }
      if (state_.batch >= per_epoch_) {
        ++state_.epoch, state_.batch = 0;
        if (eval_every_ == 0 && state_.last_eval_step != state_.step) evaluate();
      }
    }
    if (state_.last_eval_step != state_.step) evaluate();
  } catch (const Error& e) {
    // What stopped the run ends its log too (stderr gets it from main, once).
    progress_->break_line();
    log_->line("error: " + first_line(e.what()), /*to_stderr=*/false);
    throw;
  }
  progress_->break_line();
  TrainSummary summary;
  summary.steps = state_.step;
  summary.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  summary.last_metrics = state_.last_metrics;
  summary.best_metrics = state_.best_metrics;
  summary.out_dir = out_;
  if (sync_ && steps_run_ > 0) {
    // What the gradient all-reduce cost: from its first bucket's start to its last's end, and
    // the part of that the backward pass did not hide (finish() waiting).
    const auto [exposed, window] = sync_->take_timings();
    char text[200];
    std::snprintf(text, sizeof(text), "data parallel: gradient all-reduce %.1f ms per step, %.1f ms of it after the backward pass",
                  1000 * window / static_cast<double>(steps_run_), 1000 * exposed / static_cast<double>(steps_run_));
    log_->line(text);
  }
  if (tb_) {
    char text[160];
    std::snprintf(text, sizeof(text), "tensorboard: %.2f s writing events and drawing figures (%.2f%% of this attempt's %.1f s)", tb_seconds_,
                  100.0 * tb_seconds_ / std::max(summary.seconds, 1e-9), summary.seconds);
    log_->line(std::string(text) + ": " + tb_->path());
  }
  if (state_.overflow_skipped > 0)
    log_->line("fp16: " + std::to_string(state_.overflow_skipped) + " of " + std::to_string(state_.step) + " steps skipped for overflowing gradients");
  if (state_.nonfinite_skipped > 0)
    log_->line("--on-nan skip: " + std::to_string(state_.nonfinite_skipped) + " of " + std::to_string(state_.step) + " steps skipped");
  log_->line("done: " + std::to_string(state_.step) + " steps in " + format_duration(summary.seconds) + " (run time " + format_duration(run_seconds()) +
             "); best " + task_.main_metric() + " " +
             (state_.best ? std::to_string(*state_.best) : std::string("?")) + "; checkpoints " + best_path_ + ", " + last_path_);
  return summary;
}

}  // namespace

Trainer::Trainer(Task& task, Options config, DataShard shard) : task_(task), config_(std::move(config)), shard_(shard) {}

TrainSummary Trainer::fit() { return TrainingRun(task_, config_, shard_).fit(); }

}  // namespace zoo
