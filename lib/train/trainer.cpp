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

#include "lib/core/checkpoint.h"
#include "lib/core/error.h"
#include "lib/core/runtime.h"
#include "lib/train/optim.h"

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

// Lines for train.log (and stderr when it is not a live progress bar).
class Log {
 public:
  explicit Log(const std::string& path) : file_(path, std::ios::app) {
    if (!file_) throw Error("cannot write " + path);
  }
  void line(const std::string& text, bool to_stderr = true) {
    file_ << text << '\n';
    file_.flush();
    if (to_stderr) std::fprintf(stderr, "%s\n", text.c_str());
  }

 private:
  std::ofstream file_;
};

// The progress bar on stderr: redrawn in place on a terminal, a line every ~10% otherwise.
class Progress {
 public:
  Progress(int64_t total_steps, int64_t steps_per_epoch, Log& log)
      : total_(total_steps), per_epoch_(steps_per_epoch), log_(log), tty_(::isatty(2)) {}

  void step(int64_t step, int64_t epoch, int64_t batch, double loss, double lr, int64_t examples, double step_seconds) {
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
    } else if (step % every == 0 || step == total_) {
      log_.line(text);
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
  bool tty_;
  bool drawn_ = false;
  double seconds_ = 0, rate_ = 0;
  Clock::time_point last_draw_{};
};

// The loop's whole state besides weights, optimizer and RNG: what a checkpoint must carry so
// that a resumed run continues exactly (docs/RELIABILITY.md).
struct LoopState {
  int64_t step = 0, epoch = 0, batch = 0;  // optimizer steps done; the epoch and batch within it next
  double loss_sum = 0;                     // training loss since the last evaluation, for metrics.jsonl
  int64_t loss_count = 0;
  int64_t last_eval_step = -1;
  int64_t nonfinite_skipped = 0;           // --on-nan skip
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
  if (const int64_t keep = config.get_int("keep_last"); keep < 1)
    throw UsageError("invalid --keep-last " + std::to_string(keep) + ": expected 1 or more");
  if (const std::string on_nan = config.get_string("on_nan"); on_nan != "stop" && on_nan != "skip")
    throw UsageError("invalid --on-nan '" + on_nan + "': expected stop or skip");
}

void request_stop() { g_stop_signal = SIGINT; }

Trainer::Trainer(Task& task, Options config) : task_(task), config_(std::move(config)) {}

TrainSummary Trainer::fit() {
  const std::string out = config_.get_string("out");
  const fs::path checkpoints_dir = fs::path(out) / "checkpoints";
  std::error_code ec;
  fs::create_directories(checkpoints_dir, ec);
  if (ec) throw Error("cannot create run folder " + out + ": " + ec.message());
  remove_stale_temporaries(out);
  remove_stale_temporaries(checkpoints_dir.string());
  const std::string last_path = (fs::path(out) / "last.ckpt").string(), best_path = (fs::path(out) / "best.ckpt").string();
  const std::string metrics_path = (fs::path(out) / "metrics.jsonl").string();

  auto model = task_.model();
  const OptimizerConfig opt = optimizer_config(config_);
  auto optimizer = make_optimizer(model->parameters(), opt);

  const int64_t per_epoch = task_.batches_per_epoch();
  const int64_t epochs = config_.get_int("epochs"), max_steps = config_.get_int("steps");
  if (epochs <= 0 && max_steps <= 0) throw UsageError("give --epochs or --steps a positive value");
  // --steps, when given, decides alone; otherwise --epochs does.
  const int64_t total = max_steps > 0 ? max_steps : epochs * per_epoch;
  ScheduleConfig schedule;
  schedule.name = config_.get_string("sched");
  schedule.lr = opt.lr;
  schedule.warmup_steps = config_.get_int("warmup_steps");
  schedule.total_steps = total;
  schedule.min_lr = config_.get_double("min_lr");
  schedule.steps_per_epoch = per_epoch;
  schedule.decay_epochs = config_.get_double("decay_epochs");
  schedule.decay_rate = config_.get_double("decay_rate");
  lr_at(schedule, 0);  // validates the schedule's options before any work
  validate_loop_options(config_);
  const double clip = config_.get_double("clip_grad");
  const int64_t eval_every = config_.get_int("eval_every");
  const int64_t save_every_steps = config_.get_int("save_every_steps");
  const double save_every_minutes = config_.get_double("save_every_minutes");
  const int64_t keep_last = config_.get_int("keep_last");
  const std::string on_nan = config_.get_string("on_nan");

  LoopState state;
  Log log((fs::path(out) / "train.log").string());

  // config.json is written once the run's start is settled, below: without it, an interrupted
  // attempt died before that, and --resume began from the options given (cmd_train).
  const bool config_written = fs::exists(fs::path(out) / "config.json", ec);
  if (config_.get_bool("resume")) {
    // The newest checkpoint that reads back intact: a step checkpoint, else last.ckpt (which is
    // one of them, or a run from before step checkpoints existed).
    std::vector<std::string> candidates;
    for (const auto& [step, path] : step_checkpoints(checkpoints_dir)) candidates.push_back(path);
    if (fs::exists(last_path)) candidates.push_back(last_path);
    std::unique_ptr<CheckpointReader> reader;
    std::string rejected;
    for (const auto& path : candidates) {
      try {
        auto candidate = std::make_unique<CheckpointReader>(path);
        if (!candidate->has_training_state()) throw Error(path + " holds no optimizer state");
        reader = std::move(candidate);
        break;
      } catch (const Error& e) {
        log.line("--resume: skipping " + path + ": " + first_line(e.what()));
        rejected += (rejected.empty() ? "" : "; ") + first_line(e.what());
        // Out of the way, kept for inspection; the next save would otherwise sort after it.
        if (path != last_path) fs::rename(path, path + ".corrupt", ec);
      }
    }
    if (!reader && !candidates.empty()) throw Error("--resume: no intact checkpoint in " + out + ": " + rejected);
    if (reader) {
      const Json& meta = reader->meta();
      if (meta.at("task") != task_.name() || meta.at("model") != task_.meta().at("model"))
        throw UsageError("--resume: " + reader->path() + " holds a " + meta.at("task").get<std::string>() + "/" +
                         meta.at("model").get<std::string>() + " run, not " + task_.name() + "/" + task_.meta().at("model").get<std::string>());
      load_state_dict(*model, reader->weights(), reader->path());
      reader->load_optimizer(*optimizer);
      reader->restore_rng();
      task_.restore_training_state(reader->task_state());
      const Json& progress = meta.at("progress");
      state.step = progress.at("step");
      state.epoch = progress.at("epoch");
      state.batch = progress.at("batch");
      state.loss_sum = progress.value("loss_sum", 0.0);
      state.loss_count = progress.value("loss_count", int64_t{0});
      state.last_eval_step = progress.value("last_eval_step", int64_t{-1});
      state.nonfinite_skipped = progress.value("nonfinite_skipped", int64_t{0});
      if (meta.contains("best") && !meta.at("best").is_null()) state.best = meta.at("best").get<double>();
      if (meta.contains("best_metrics")) state.best_metrics = meta.at("best_metrics");
      if (meta.contains("metrics")) state.last_metrics = meta.at("metrics");
      log.line("resumed " + reader->path() + " at step " + std::to_string(state.step) + " (epoch " + std::to_string(state.epoch + 1) + ")");
    } else if (!config_written) {
      log.line("--resume: " + out + " holds no config.json (the interrupted run stopped before writing it); starting at step 0 with the options given");
    } else {
      log.line("--resume: nothing saved in " + out + " yet; starting at step 0");
    }
    keep_metrics_up_to(metrics_path, state.step);
  } else {
    // A new run in a used folder: the old run's step checkpoints must not be resumed into it.
    const auto previous = step_checkpoints(checkpoints_dir);
    if (!previous.empty() || fs::exists(last_path))
      log.line("starting a new run in " + out + " (its previous checkpoints are replaced; --resume continues a run)");
    for (const auto& [step, path] : previous) fs::remove(path, ec);
    fs::remove(last_path, ec);
    keep_metrics_up_to(metrics_path, -1);
    if (config_.has("init") && !config_.get_string("init").empty()) {
      const std::string init = config_.get_string("init");
      CheckpointReader reader(init);
      NamedTensors weights = reader.weights();
      task_.adapt_weights(weights);
      auto skipped = load_state_dict(*model, weights, init, task_.head_prefixes());
      std::string note = "initialised from " + init;
      for (const auto& name : skipped) note += "; kept new " + name + " (shape differs)";
      log.line(note);
    }
  }
  // Fault injection (tests): die with the data read and train.log begun, but no config.json.
  if (fault_injected("kill-while-starting")) std::raise(SIGKILL);
  write_file_atomic((fs::path(out) / "config.json").string(), config_.json().dump(2) + "\n");

  const std::string metric = task_.main_metric();
  const bool higher = task_.higher_is_better();
  auto checkpoint_meta = [&]() {
    Json meta = task_.meta();
    meta["config"] = config_.json();
    // The data order is a function of (seed, epoch) (Task::train_batches): epoch and batch place it.
    meta["progress"] = {{"step", state.step}, {"epoch", state.epoch}, {"batch", state.batch}, {"total_steps", total},
                        {"loss_sum", state.loss_sum}, {"loss_count", state.loss_count}, {"last_eval_step", state.last_eval_step},
                        {"nonfinite_skipped", state.nonfinite_skipped}};
    meta["best"] = state.best ? Json(*state.best) : Json(nullptr);
    meta["best_metrics"] = state.best_metrics;
    meta["metrics"] = state.last_metrics;
    return meta;
  };
  auto last_save = Clock::now();
  auto save_last = [&]() {
    // Written whole under its own name, then last.ckpt points at it; the previous ones stay
    // until --keep-last newer ones exist.
    const std::string step_path = (checkpoints_dir / step_checkpoint_name(state.step)).string();
    save_checkpoint(step_path, {checkpoint_meta(), state_dict(*model), optimizer.get(), true, task_.training_state()});
    link_atomically(step_path, last_path);
    const auto saved = step_checkpoints(checkpoints_dir);
    for (size_t i = static_cast<size_t>(keep_last); i < saved.size(); ++i) fs::remove(saved[i].second, ec);
    last_save = Clock::now();
  };

  Progress progress(total, per_epoch, log);
  const auto start = Clock::now();
  std::ofstream metrics_file(metrics_path, std::ios::app);
  if (!metrics_file) throw Error("cannot write " + metrics_path);

  auto evaluate = [&]() {
    progress.break_line();
    const auto t0 = Clock::now();
    Json result = task_.evaluate("val");
    state.last_metrics = result.at("metrics");
    const double value = state.last_metrics.at(metric).get<double>();
    Json line = {{"step", state.step}, {"epoch", static_cast<double>(state.step) / per_epoch},
                 {"lr", lr_at(schedule, std::max<int64_t>(0, state.step - 1))},
                 {"train_loss", state.loss_count ? Json(state.loss_sum / state.loss_count) : Json(nullptr)}, {"examples", result.at("examples")},
                 {"eval_seconds", std::chrono::duration<double>(Clock::now() - t0).count()},
                 {"elapsed_seconds", std::chrono::duration<double>(Clock::now() - start).count()}};
    for (auto it = state.last_metrics.begin(); it != state.last_metrics.end(); ++it) line["val_" + it.key()] = it.value();
    metrics_file << line.dump() << '\n';
    metrics_file.flush();
    std::string text = "eval step " + std::to_string(state.step) + ":";
    for (auto it = state.last_metrics.begin(); it != state.last_metrics.end(); ++it) {
      char value_text[64];
      std::snprintf(value_text, sizeof(value_text), " %s %.4f", it.key().c_str(), it.value().get<double>());
      text += value_text;
    }
    state.loss_sum = 0, state.loss_count = 0;
    state.last_eval_step = state.step;
    if (!state.best || (higher ? value > *state.best : value < *state.best)) {
      state.best = value;
      state.best_metrics = state.last_metrics;
      save_checkpoint(best_path, {checkpoint_meta(), state_dict(*model), nullptr, false});
      text += " (best)";
    }
    log.line(text);
    for (const auto& notice : task_.take_notices()) log.line(notice);
    save_last();
  };

  // Names the first examples of a batch for messages about it.
  auto describe_batch = [&](const Batch& batch) {
    std::string names;
    const size_t shown = std::min<size_t>(batch.ids.size(), 4);
    for (size_t i = 0; i < shown; ++i) names += (i ? ", " : "") + task_.describe_sample(batch.ids[i]);
    if (batch.ids.size() > shown) names += " and " + std::to_string(batch.ids.size() - shown) + " more";
    return names.empty() ? std::string("(unknown)") : names;
  };

  log.line("training " + task_.meta().at("model").get<std::string>() + " for " + std::to_string(total) + " steps (" +
           std::to_string(per_epoch) + " per epoch, " + std::to_string(task_.examples_per_epoch()) + " examples), run folder " + out);
  StopSignalScope stop_signals;
  const auto parameters = model->parameters();
  try {
    while (state.step < total) {
      auto batches = task_.train_batches(state.epoch, state.batch);
      while (state.step < total) {
        const auto t0 = Clock::now();
        auto batch = batches->next();
        if (!batch) break;
        const double lr = lr_at(schedule, state.step);
        set_lr(*optimizer, lr);
        model->train();
        auto loss = task_.loss(*batch);
        double loss_value = loss.item<double>();
        if (fault_injected("nan-loss")) loss_value = std::nan("");  // tests of --on-nan
        std::string nonfinite;  // what went wrong, if anything did
        if (!std::isfinite(loss_value)) {
          nonfinite = "the loss is " + format_value(loss_value);
        } else {
          optimizer->zero_grad();
          loss.backward();
          const double norm = clip > 0 ? torch::nn::utils::clip_grad_norm_(parameters, clip) : gradient_norm(parameters);
          if (!std::isfinite(norm)) nonfinite = "the gradient norm is " + format_value(norm);
        }
        ++state.step, ++state.batch;
        if (!nonfinite.empty()) {
          const std::string where = "step " + std::to_string(state.step) + " (epoch " + std::to_string(state.epoch + 1) + ", batch " +
                                    std::to_string(state.batch) + ")";
          progress.break_line();
          if (on_nan == "stop")
            throw Error(nonfinite + " at " + where + ", on " + describe_batch(*batch) + "; training stopped, " +
                        (fs::exists(last_path) ? last_path + " holds the last good state" : std::string("nothing was saved yet")) +
                        " (lower --lr, set --clip-grad, or pass --on-nan skip)");
          optimizer->zero_grad();
          ++state.nonfinite_skipped;
          log.line("--on-nan skip: " + nonfinite + " at " + where + ", on " + describe_batch(*batch) + "; step skipped (" +
                   std::to_string(state.nonfinite_skipped) + " so far)");
        } else {
          optimizer->step();
          state.loss_sum += loss_value, ++state.loss_count;
        }
        for (const auto& notice : task_.take_notices()) {
          progress.break_line();
          log.line(notice);
        }
        progress.step(state.step, state.epoch, state.batch, loss_value, lr, batch->size, std::chrono::duration<double>(Clock::now() - t0).count());
        if (const int signal = g_stop_signal.load()) {
          progress.break_line();
          save_last();
          log.line(std::string(signal == SIGTERM ? "terminated" : "interrupted") + " at step " + std::to_string(state.step) + "; saved " +
                   last_path + " (continue with --resume --out " + out + ")");
          throw Interrupted("interrupted", 128 + signal);
        }
        if (eval_every > 0 && state.step % eval_every == 0) evaluate();
        else if (save_every_steps > 0 && state.step % save_every_steps == 0) save_last();
        else if (save_every_minutes > 0 && std::chrono::duration<double>(Clock::now() - last_save).count() >= 60 * save_every_minutes) save_last();
      }
      if (state.batch >= per_epoch) {
        ++state.epoch, state.batch = 0;
        if (eval_every == 0 && state.last_eval_step != state.step) evaluate();
      }
    }
    if (state.last_eval_step != state.step) evaluate();
  } catch (const Error& e) {
    // What stopped the run ends its log too (stderr gets it from main, once).
    progress.break_line();
    log.line("error: " + first_line(e.what()), /*to_stderr=*/false);
    throw;
  }
  progress.break_line();
  TrainSummary summary;
  summary.steps = state.step;
  summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  summary.last_metrics = state.last_metrics;
  summary.best_metrics = state.best_metrics;
  summary.out_dir = out;
  if (state.nonfinite_skipped > 0)
    log.line("--on-nan skip: " + std::to_string(state.nonfinite_skipped) + " of " + std::to_string(state.step) + " steps skipped");
  log.line("done: " + std::to_string(state.step) + " steps in " + format_duration(summary.seconds) + "; best " + metric + " " +
           (state.best ? std::to_string(*state.best) : std::string("?")) + "; checkpoints " + best_path + ", " + last_path);
  return summary;
}

}  // namespace zoo
