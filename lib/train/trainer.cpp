#include "lib/train/trainer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "lib/core/checkpoint.h"
#include "lib/core/error.h"
#include "lib/train/optim.h"

namespace fs = std::filesystem;

namespace zoo {

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_sigint(int) {
  g_stop = true;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills at once
}

// Installs the Ctrl-C handler for the lifetime of a fit() and restores the old one after.
struct SigintScope {
  void (*previous)(int);
  SigintScope() : previous(std::signal(SIGINT, on_sigint)) { g_stop = false; }
  ~SigintScope() { std::signal(SIGINT, previous); }
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

}  // namespace

void request_stop() { g_stop = true; }

Trainer::Trainer(Task& task, Options config) : task_(task), config_(std::move(config)) {}

TrainSummary Trainer::fit() {
  const std::string out = config_.get_string("out");
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw Error("cannot create run folder " + out + ": " + ec.message());
  const std::string last_path = (fs::path(out) / "last.ckpt").string(), best_path = (fs::path(out) / "best.ckpt").string();

  auto model = task_.model();
  OptimizerConfig opt;
  opt.name = config_.get_string("opt");
  opt.lr = config_.get_double("lr");
  opt.momentum = config_.get_double("momentum");
  opt.nesterov = config_.get_bool("nesterov");
  opt.weight_decay = config_.get_double("weight_decay");
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
  const double clip = config_.get_double("clip_grad");
  const int64_t eval_every = config_.get_int("eval_every");
  if (eval_every < 0) throw UsageError("invalid --eval-every: expected 0 (each epoch) or a positive step count");

  int64_t step = 0, epoch = 0, batch_in_epoch = 0;
  std::optional<double> best;
  Json best_metrics, last_metrics;
  Log log((fs::path(out) / "train.log").string());

  if (config_.get_bool("resume")) {
    CheckpointReader reader(last_path);
    const Json& meta = reader.meta();
    if (meta.at("task") != task_.name() || meta.at("model") != task_.meta().at("model"))
      throw UsageError("--resume: " + last_path + " holds a " + meta.at("task").get<std::string>() + "/" +
                       meta.at("model").get<std::string>() + " run, not " + task_.name() + "/" + task_.meta().at("model").get<std::string>());
    load_state_dict(*model, reader.weights(), last_path);
    reader.load_optimizer(*optimizer);
    reader.restore_rng();
    const Json& progress = meta.at("progress");
    step = progress.at("step");
    epoch = progress.at("epoch");
    batch_in_epoch = progress.at("batch");
    if (meta.contains("best") && !meta.at("best").is_null()) best = meta.at("best").get<double>();
    if (meta.contains("best_metrics")) best_metrics = meta.at("best_metrics");
    log.line("resumed " + last_path + " at step " + std::to_string(step) + " (epoch " + std::to_string(epoch + 1) + ")");
  } else if (config_.has("init") && !config_.get_string("init").empty()) {
    const std::string init = config_.get_string("init");
    CheckpointReader reader(init);
    auto skipped = load_state_dict(*model, reader.weights(), init, task_.head_prefixes());
    std::string note = "initialised from " + init;
    for (const auto& name : skipped) note += "; kept new " + name + " (shape differs)";
    log.line(note);
  }
  write_file_atomic((fs::path(out) / "config.json").string(), config_.json().dump(2) + "\n");

  const std::string metric = task_.main_metric();
  const bool higher = task_.higher_is_better();
  auto checkpoint_meta = [&]() {
    Json meta = task_.meta();
    meta["config"] = config_.json();
    meta["progress"] = {{"step", step}, {"epoch", epoch}, {"batch", batch_in_epoch}, {"total_steps", total}};
    meta["best"] = best ? Json(*best) : Json(nullptr);
    meta["best_metrics"] = best_metrics;
    meta["metrics"] = last_metrics;
    return meta;
  };
  auto save_last = [&]() { save_checkpoint(last_path, {checkpoint_meta(), state_dict(*model), optimizer.get(), true}); };

  Progress progress(total, per_epoch, log);
  const auto start = Clock::now();
  double loss_sum = 0;
  int64_t loss_count = 0, last_eval_step = -1;
  std::ofstream metrics_file((fs::path(out) / "metrics.jsonl").string(), std::ios::app);
  if (!metrics_file) throw Error("cannot write " + (fs::path(out) / "metrics.jsonl").string());

  auto evaluate = [&]() {
    progress.break_line();
    const auto t0 = Clock::now();
    Json result = task_.evaluate("val");
    last_metrics = result.at("metrics");
    const double value = last_metrics.at(metric).get<double>();
    Json line = {{"step", step}, {"epoch", static_cast<double>(step) / per_epoch}, {"lr", lr_at(schedule, std::max<int64_t>(0, step - 1))},
                 {"train_loss", loss_count ? Json(loss_sum / loss_count) : Json(nullptr)}, {"examples", result.at("examples")},
                 {"eval_seconds", std::chrono::duration<double>(Clock::now() - t0).count()},
                 {"elapsed_seconds", std::chrono::duration<double>(Clock::now() - start).count()}};
    for (auto it = last_metrics.begin(); it != last_metrics.end(); ++it) line["val_" + it.key()] = it.value();
    metrics_file << line.dump() << '\n';
    metrics_file.flush();
    std::string text = "eval step " + std::to_string(step) + ":";
    for (auto it = last_metrics.begin(); it != last_metrics.end(); ++it) {
      char value_text[64];
      std::snprintf(value_text, sizeof(value_text), " %s %.4f", it.key().c_str(), it.value().get<double>());
      text += value_text;
    }
    if (!best || (higher ? value > *best : value < *best)) {
      best = value;
      best_metrics = last_metrics;
      save_checkpoint(best_path, {checkpoint_meta(), state_dict(*model), nullptr, false});
      text += " (best)";
    }
    log.line(text);
    save_last();
    loss_sum = 0, loss_count = 0;
    last_eval_step = step;
  };

  log.line("training " + task_.meta().at("model").get<std::string>() + " for " + std::to_string(total) + " steps (" +
           std::to_string(per_epoch) + " per epoch, " + std::to_string(task_.examples_per_epoch()) + " examples), run folder " + out);
  SigintScope sigint;
  while (step < total) {
    auto batches = task_.train_batches(epoch, batch_in_epoch);
    while (step < total) {
      const auto t0 = Clock::now();
      auto batch = batches->next();
      if (!batch) break;
      const double lr = lr_at(schedule, step);
      set_lr(*optimizer, lr);
      model->train();
      auto loss = task_.loss(*batch);
      const double loss_value = loss.item<double>();
      if (!std::isfinite(loss_value)) {
        progress.break_line();
        throw Error("the loss became " + std::to_string(loss_value) + " at step " + std::to_string(step + 1) +
                    "; lower --lr or set --clip-grad (last good state: " + last_path + ")");
      }
      optimizer->zero_grad();
      loss.backward();
      if (clip > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), clip);
      optimizer->step();
      ++step, ++batch_in_epoch;
      loss_sum += loss_value, ++loss_count;
      progress.step(step, epoch, batch_in_epoch, loss_value, lr, batch->size, std::chrono::duration<double>(Clock::now() - t0).count());
      if (g_stop) {
        progress.break_line();
        save_last();
        log.line("interrupted at step " + std::to_string(step) + "; saved " + last_path + " (continue with --resume --out " + out + ")");
        throw Interrupted("interrupted");
      }
      if (eval_every > 0 && step % eval_every == 0) evaluate();
    }
    if (batch_in_epoch >= per_epoch) {
      ++epoch, batch_in_epoch = 0;
      if (eval_every == 0 && last_eval_step != step) evaluate();
    }
  }
  if (last_eval_step != step) evaluate();
  progress.break_line();
  TrainSummary summary;
  summary.steps = step;
  summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  summary.last_metrics = last_metrics;
  summary.best_metrics = best_metrics;
  summary.out_dir = out;
  log.line("done: " + std::to_string(step) + " steps in " + format_duration(summary.seconds) + "; best " + metric + " " +
           (best ? std::to_string(*best) : std::string("?")) + "; checkpoints " + best_path + ", " + last_path);
  return summary;
}

}  // namespace zoo
