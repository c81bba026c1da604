#include "apps/zoo/commands.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>

#include "apps/zoo/completion.h"
#include "apps/zoo/model_docs.h"
#include "data/text_pairs.h"
#include "lib/bench/bench.h"
#include "lib/core/checkpoint.h"
#include "lib/core/distributed.h"
#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/core/runtime.h"
#include "lib/export/safetensors.h"
#include "lib/export/state_dict.h"
#include "lib/export/torchscript.h"
#include "lib/tasks/builtin.h"
#include "lib/tasks/caption.h"
#include "lib/tasks/detect.h"
#include "lib/text/clip_bpe.h"
#include "lib/nn/sync_batch_norm.h"
#include "lib/train/data_parallel.h"
#include "lib/train/optim.h"
#include "lib/train/precision.h"
#include "lib/train/run_folder.h"
#include "lib/train/trainer.h"
#include "lib/viz/heatmap.h"
#include "lib/viz/plot.h"

namespace fs = std::filesystem;

namespace zoo::cli {

namespace {

std::vector<OptionSpec> train_options() {
  return {
      {"task", nullptr, "", "classify | translate | lm | caption | detect | clip | ssl | video", Kind::Value, "TASK"},
      {"model", nullptr, "", "model name (see zoo models)", Kind::Value, "NAME"},
      {"data", nullptr, "", "data in the task's real format, or synth:NAME (default: the task's synthetic set)", Kind::Value, "PATH"},
      {"out", nullptr, "", "run folder (default: runs/<task>-<model>-<timestamp>)", Kind::Value, "DIR"},
      {"resume", nullptr, false, "continue the run in --out from its last.ckpt", Kind::Flag},
      {"init", nullptr, "", "start from the weights of this checkpoint (a differently sized head is re-initialised)", Kind::Value, "CKPT"},
      {"epochs", 10, 0, "training epochs", Kind::Value, "N"},
      {"steps", 0, 0, "train this many optimizer steps, whatever --epochs says (0: --epochs decides)", Kind::Value, "N"},
      {"batch-size", 64, 0, "examples per batch", Kind::Value, "N"},
      {"opt", nullptr, "", "sgd | adam | adamw [default: the model's training recipe, which also sets --lr, --weight-decay, --momentum, --sched, --warmup-fraction, --min-lr and --clip-grad where they are not given (zoo models --model NAME)]", Kind::Value, "NAME"},
      {"lr", nullptr, 0.1, "peak learning rate [default: the recipe's with its optimizer, else 0.1 for sgd, 1e-3 for adam/adamw]", Kind::Value, "LR"},
      {"momentum", 0.9, 0.9, "SGD momentum", Kind::Value, "M"},
      {"nesterov", nullptr, false, "Nesterov momentum for SGD", Kind::Flag},
      {"weight-decay", nullptr, 0.1, "weight decay [default: the recipe's with its optimizer, else 5e-4 sgd, 0 adam, 0.05 adamw]", Kind::Value, "WD"},
      {"sched", "cosine", "", "none | step | cosine | noam", Kind::Value, "NAME"},
      {"warmup-steps", 0, 0, "linear warm-up steps (noam: steps to its peak)", Kind::Value, "N"},
      {"warmup-fraction", 0.0, 0.0, "linear warm-up over this share of the run's steps, when --warmup-steps is 0", Kind::Value, "F"},
      {"min-lr", 0.0, 0.0, "cosine schedule's final learning rate", Kind::Value, "LR"},
      {"decay-epochs", 30.0, 0.0, "step schedule: epochs between decays", Kind::Value, "E"},
      {"decay-rate", 0.1, 0.0, "step schedule: factor at each decay", Kind::Value, "F"},
      {"clip-grad", 0.0, 0.0, "clip the global gradient norm to this (0: off)", Kind::Value, "NORM"},
      {"label-smoothing", 0.0, 0.0, "label smoothing of the cross-entropy", Kind::Value, "EPS"},
      {"mixup", 0.0, 0.0, "classify: mixup with lam ~ Beta(A, A), each image with the batch's mirror image (0: off)", Kind::Value, "A"},
      {"cutmix", 0.0, 0.0, "classify: cutmix with lam ~ Beta(A, A) (0: off)", Kind::Value, "A"},
      {"mixup-prob", 1.0, 0.0, "classify: share of batches mixed when --mixup or --cutmix is on", Kind::Value, "P"},
      {"mixup-switch-prob", 0.5, 0.0, "classify: with both on, the chance a mixed batch uses cutmix", Kind::Value, "P"},
      {"eval-every", 0, 0, "evaluate every N steps (0: at the end of every epoch)", Kind::Value, "N"},
      {"workers", 2, 0, "data loader threads (0: load in the training thread)", Kind::Value, "N"},
      {"save-every-steps", 0, 0, "also save last.ckpt every N steps (0: only at evaluations and on signals)", Kind::Value, "N"},
      {"save-every-minutes", 10.0, 0.0, "also save last.ckpt when this many minutes passed since the last save (0: off)", Kind::Value, "MIN"},
      {"keep-last", 2, 0, "step checkpoints kept in OUT/checkpoints (last.ckpt is the newest)", Kind::Value, "N"},
      {"no-tensorboard", nullptr, false, "write no TensorBoard event files (OUT/tb/: scalars, the validation example's attention figure, sample outputs, the options)", Kind::Flag},
      {"log-every", 10, 0, "TensorBoard: training loss (the mean since the last point), learning rate, gradient norm and throughput every N steps", Kind::Value, "N"},
      {"progress-seconds", 30.0, 0.0, "when stderr is not a terminal: a progress line at least every this many seconds (0: only every ~10% of an epoch)", Kind::Value, "S"},
      {"deterministic", nullptr, false, "deterministic algorithms only, one CPU thread unless --threads says otherwise: a resumed run ends bit for bit where an uninterrupted one does", Kind::Flag},
      {"bad-samples", "fail", "", "an unreadable image (corrupt, truncated, empty): fail (naming it) | skip it, listed in train.log", Kind::Value, "ACTION"},
      {"on-nan", "stop", "", "a non-finite loss or gradient: stop (with the step and its samples) | skip the step and count it", Kind::Value, "ACTION"},
      {"accum-steps", 1, 0, "accumulate the gradients of K micro-batches per step (each rank's share of --batch-size split in K)", Kind::Value, "K"},
      {"precision", "fp32", "", "fp32 | bf16 (autocast; CPU or CUDA) | fp16 (autocast with dynamic loss scaling; CUDA)", Kind::Value, "P"},
      {"dist-backend", "auto", "", "under torchrun: auto (NCCL on CUDA, Gloo on the CPU) | gloo | nccl", Kind::Value, "NAME"},
      {"sync-bn", nullptr, false, "under torchrun: BatchNorm statistics over the whole global batch, not each rank's share", Kind::Flag},
      {"channels-last", nullptr, false, "train CNNs with NHWC tensors (faster with oneDNN on CPU, see docs/PERFORMANCE.md)", Kind::Flag},
      {"set", nullptr, Json::array(), "model option key=value (repeatable); unknown keys list the valid ones", Kind::List, "KEY=VALUE"},
      {"val-fraction", 0.1, 0.0, "share of a single data set (image-folder tree, parallel files, TSV) held out for validation", Kind::Value, "F"},
      {"src", nullptr, "", "translate: source language suffix of the parallel files (PREFIX.SRC)", Kind::Value, "LANG"},
      {"tgt", nullptr, "", "translate: target language suffix of the parallel files (PREFIX.TGT)", Kind::Value, "LANG"},
      {"max-len", 100, 0, "translate: drop training pairs with a side longer than this many tokens; caption: captions longer than this many words (0: keep all)", Kind::Value, "N"},
      {"beam", 1, 0, "translate, caption, ocr: beam size of the validation BLEU/CIDEr/CER during training (1: greedy)", Kind::Value, "K"},
      {"frames", 0, 0, "video: frames per clip, T (the model's --set num_frames; 0: the model's default)", Kind::Value, "T"},
      {"synth-size", 2048, 0, "training examples of a synthetic set (validation: a quarter, at least 64)", Kind::Value, "N"},
      {"json", nullptr, false, "print a JSON summary on stdout", Kind::Flag},
  };
}

std::string timestamp() {
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", std::localtime(&now));
  return buf;
}

torch::Device setup_runtime(const Options& o) {
  set_threads(static_cast<int>(o.get_int("threads")));
  const std::string warning = blas_warning();
  if (!warning.empty()) std::fprintf(stderr, "zoo: warning: %s\n", warning.c_str());
  seed_everything(static_cast<uint64_t>(o.get_int("seed")));
  return parse_device(o.get_string("device"));
}

std::string require(const Options& o, const std::string& key) {
  if (!o.has(key) || o.get_string(key).empty()) throw UsageError("missing " + flag_of(key));
  return o.get_string(key);
}

// Rebuilds the task and model a checkpoint describes, with its weights, on `device`.
std::unique_ptr<Task> task_from_checkpoint(const std::string& path, torch::Device device) {
  CheckpointReader reader(path);
  auto task = create_task(reader.meta().at("task").get<std::string>());
  task->setup_from_meta(reader.meta(), device);
  load_state_dict(*task->model(), reader.weights(), path);
  return task;
}

void print_json(const Json& j) { std::printf("%s\n", j.dump().c_str()); }

// "shapes (classify) | dates (translate) | scenes (caption, clip)": each synthetic set and the
// tasks that train on it.
std::string synthetic_kinds_help() {
  std::vector<std::pair<std::string, std::string>> kinds;  // kind, its tasks
  for (const auto& t : task_specs()) {
    if (t.synthetic.empty()) continue;
    const std::string kind = t.synthetic.substr(6);
    auto it = std::find_if(kinds.begin(), kinds.end(), [&](const auto& k) { return k.first == kind; });
    if (it == kinds.end()) kinds.emplace_back(kind, t.name);
    else it->second += ", " + t.name;
  }
  std::string out;
  for (const auto& [kind, tasks] : kinds) out += (out.empty() ? "" : " | ") + kind + " (" + tasks + ")";
  return out;
}

int cmd_models(const Options& o) {
  const std::string task = o.has("task") ? o.get_string("task") : "";
  if (!task.empty()) task_spec(task);  // an unknown name is a usage error
  if (o.get_bool("markdown")) {
    std::printf("%s", options_markdown(registry()).c_str());
    return 0;
  }
  const bool one = o.has("model") && !o.get_string("model").empty();
  auto models = one ? std::vector<const ModelSpec*>{&registry().model(o.get_string("model"))} : registry().models(task);
  if (o.get_bool("json")) {
    Json list = Json::array();
    for (const auto* m : models) {
      Json options = Json::array();
      for (const auto& part : m->options.parts())
        for (const auto& option : part.options) options.push_back(option.to_json());
      list.push_back({{"name", m->name}, {"task", m->task}, {"family", m->family}, {"params", m->params},
                      {"description", m->description}, {"defaults", m->defaults()}, {"options", options}, {"recipe", m->recipe}});
    }
    print_json(list);
    return 0;
  }
  if (one) {
    std::printf("%s", model_details_text(*models.front()).c_str());
    return 0;
  }
  std::printf("%-16s %-9s %14s  %s\n", "model", "task", "params", "description");
  for (const auto* m : models) {
    std::printf("%-16s %-9s %14lld  %s\n", m->name.c_str(), m->task.c_str(), (long long)m->params, m->description.c_str());
    std::string defaults;
    const Json values = m->defaults();
    for (auto it = values.begin(); it != values.end(); ++it) defaults += (defaults.empty() ? "" : " ") + it.key() + "=" + value_text(it.value());
    std::printf("%-16s %-9s %14s  options: %s\n", "", "", "", defaults.c_str());
    std::printf("%-16s %-9s %14s  recipe: %s\n", "", "", "", recipe_text(m->recipe).c_str());
  }
  for (const auto& w : registry().wrappers()) {
    if (!task.empty() && task != w.task) continue;
    std::string defaults;
    const Json values = w.options.defaults();
    for (auto it = values.begin(); it != values.end(); ++it) defaults += (defaults.empty() ? "" : " ") + it.key() + "=" + value_text(it.value());
    std::printf("(task %s: %s; --model names any %s model as the backbone)\n", w.task.c_str(), w.description.c_str(), w.wrapped_task.c_str());
    std::printf("%-16s %-9s %14s  options: %s\n", "", "", "", defaults.c_str());
    std::printf("%-16s %-9s %14s  recipe: %s\n", "", "", "", recipe_text(w.recipe).c_str());
  }
  for (const auto& t : task_specs())
    if (!t.create && (task.empty() || task == t.name)) std::printf("(task %s: not available yet)\n", t.name.c_str());
  return 0;
}

int cmd_train(const Command& cmd) {
  Json base = Json::object();
  Json first = cmd.resolve();
  // Launched by torchrun: this process is one rank (docs/DISTRIBUTED.md). A restarted attempt
  // (--max_restarts) continues the run from its newest intact checkpoint, as --resume does.
  const DistEnv env = read_dist_env();
  if (env.restart_count > 0 && !first.at("out").is_null()) {
    if (env.rank == 0)
      std::fprintf(stderr, "zoo train: torchrun restarted the workers (attempt %lld); resuming the run in %s\n", (long long)env.restart_count,
                   first.at("out").get<std::string>().c_str());
    first["resume"] = true;
  }
  if (first.at("resume").get<bool>()) {
    // A resumed run starts from its own config.json; options given now override it.
    if (first.at("out").is_null()) throw UsageError("--resume needs --out DIR, the run folder to continue");
    // No config.json yet (the folder may not exist either): the interrupted attempt died before
    // writing it, so nothing of the run was saved, and it starts at step 0 from the options given
    // now, which the trainer logs. A scheduler re-runs the same command however early it died.
    const fs::path config = fs::path(first.at("out").get<std::string>()) / "config.json";
    std::error_code ec;
    if (fs::exists(config, ec) || ec) {
      std::ifstream in(config);
      if (!in) throw Error("--resume: cannot read " + config.string() + (ec ? ": " + ec.message() : std::string()));
      try {
        base = Json::parse(in);
      } catch (const std::exception& e) {
        throw Error("--resume: " + config.string() + " is not valid JSON");
      }
    } else if (first.at("task").is_null() || first.at("model").is_null()) {
      throw UsageError("--resume: " + config.string() + " does not exist (the run never started?); give the run's own options, " +
                       "--task and --model among them, to start it");
    }
  }
  // Defaults <- the model's training recipe (a new run's; a resumed run has its config.json, which
  // recorded it) <- --config <- flags. Another optimizer than the recipe's keeps none of the
  // recipe's optimizer settings.
  if (base.empty() && !first.at("model").is_null()) {
    Json recipe = registry().recipe(first.at("model").get<std::string>(), first.at("task").is_string() ? first.at("task").get<std::string>() : "");
    if (!first.at("opt").is_null() && recipe.contains("opt") && first.at("opt") != recipe.at("opt"))
      for (const char* key : {"lr", "weight_decay", "momentum"}) recipe.erase(key);
    base = recipe;
  }
  Json resolved = cmd.resolve(base);
  resolved["resume"] = first.at("resume");
  Options o(resolved);
  if (!o.has("opt")) o.json()["opt"] = "sgd";
  const std::string task_name = require(o, "task");
  const std::string model = require(o, "model");
  // The run in --out is that run: another task or model given now is a mistake, not a new run.
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"task", task_name}, {"model", model}}) {
    if (base.contains(key) && base.at(key).is_string() && base.at(key).get<std::string>() != value)
      throw UsageError("--resume: " + (fs::path(o.get_string("out")) / "config.json").string() + " holds a run of --" + key + " " +
                       base.at(key).get<std::string>() + ", not " + value);
  }
  auto task = create_task(task_name);
  registry().options_in(model, task_name);  // UsageError unless task_name trains model
  // --frames T is the video models' num_frames (recorded in config.json's set, so a resume agrees).
  if (o.has("frames") && o.get_int("frames") != 0) {
    if (task_name != "video") throw UsageError("--frames is for --task video");
    if (o.get_int("frames") < 0) throw UsageError("invalid --frames " + std::to_string(o.get_int("frames")) + ": expected a positive integer");
    auto& set = o.json()["set"];
    const std::string assignment = "num_frames=" + std::to_string(o.get_int("frames"));
    if (std::find(set.begin(), set.end(), Json(assignment)) == set.end()) set.push_back(assignment);
  }
  // Options whose defaults depend on others are fixed now, so config.json replays exactly.
  const std::string opt = o.get_string("opt");
  if (opt != "sgd" && opt != "adam" && opt != "adamw") throw UsageError("invalid --opt '" + opt + "': expected sgd, adam or adamw");
  if (!o.has("lr")) o.json()["lr"] = default_lr(opt);
  if (!o.has("weight_decay")) o.json()["weight_decay"] = default_weight_decay(opt);
  if (!o.has("data")) o.json()["data"] = task_spec(task_name).synthetic;
  if (env.launched && !o.has("out"))
    throw UsageError("under torchrun give --out DIR: every rank, and every restarted attempt, must name the same run folder");
  if (!o.has("out")) o.json()["out"] = (fs::path("runs") / (task_name + "-" + model + "-" + timestamp())).string();
  // Every option is checked before the run folder is made or data read; NaN fails each test
  // (comparisons with it are false). The task checks its own and its model's (--set).
  task->check_options(o);
  for (const char* key : {"epochs", "steps", "warmup_steps", "eval_every"}) {
    if (o.get_int(key) < 0) throw UsageError("invalid " + flag_of(key) + " " + std::to_string(o.get_int(key)) + ": expected 0 or more");
  }
  optimizer_config(o);
  for (const char* key : {"clip_grad", "min_lr", "save_every_minutes", "decay_epochs", "decay_rate", "mixup", "cutmix"}) {
    const double value = o.get_double(key);
    if (!(value >= 0) || !std::isfinite(value)) throw UsageError("invalid " + flag_of(key) + " " + format_value(value) + ": expected 0 or more");
  }
  for (const char* key : {"mixup_prob", "mixup_switch_prob"}) {
    const double value = o.get_double(key);
    if (!(value >= 0 && value <= 1)) throw UsageError("invalid " + flag_of(key) + " " + format_value(value) + ": expected a number in [0, 1]");
  }
  validate_loop_options(o);
  DataShard shard;
  shard.rank = env.rank, shard.world_size = env.world_size, shard.accum_steps = o.get_int("accum_steps");
  check_data_parallel_options(o, shard);
  // The run folder before any data is read: an unwritable --out fails at once.
  std::error_code ec;
  if (shard.rank == 0) fs::create_directories(o.get_string("out"), ec);
  if (ec) throw Error("cannot create run folder " + o.get_string("out") + ": " + ec.message());
  std::optional<RunFolderLock> lock;
  if (shard.rank == 0) lock.emplace(o.get_string("out"));
  // Fault injection (tests): die with the run folder made and nothing in it yet.
  if (fault_injected("kill-while-starting")) std::raise(SIGKILL);
  if (o.get_bool("deterministic")) {
    use_deterministic_algorithms();
    if (!cmd.given("threads") && o.get_int("threads") == 0) o.json()["threads"] = 1;
  }
  // Several processes on one machine share its cores, unless --threads says otherwise.
  if (env.local_world_size > 1 && !cmd.given("threads") && o.get_int("threads") == 0)
    o.json()["threads"] = std::max(1, available_cores() / static_cast<int>(env.local_world_size));
  const torch::Device device = setup_runtime(o);
  check_precision(parse_precision(o.get_string("precision")), device);
  std::unique_ptr<Collectives> group;
  if (env.world_size > 1) {
    group = join_run(env, resolve_dist_backend(o.get_string("dist_backend"), device.is_cuda()));
    shard.group = group.get();
  }
  task->set_shard(shard);
  task->setup_training(o, device);
  if (o.get_bool("sync_bn")) nn::convert_sync_batch_norm(*task->model(), shard.group);
  Trainer trainer(*task, o, shard);
  TrainSummary summary = trainer.fit();
  if (shard.rank != 0) return 0;  // rank 0 reports for the run
  const fs::path out = summary.out_dir;
  if (o.get_bool("json")) {
    print_json({{"task", task_name}, {"model", model}, {"out", out.string()}, {"steps", summary.steps}, {"seconds", summary.seconds},
                {"best_checkpoint", (out / "best.ckpt").string()}, {"last_checkpoint", (out / "last.ckpt").string()},
                {"metrics", summary.last_metrics}, {"best_metrics", summary.best_metrics}});
  } else {
    std::printf("run folder: %s\nbest checkpoint: %s\nlast checkpoint: %s\nmetrics: %s\n", out.c_str(), (out / "best.ckpt").c_str(),
                (out / "last.ckpt").c_str(), summary.best_metrics.dump().c_str());
  }
  return 0;
}

int cmd_eval(const Options& o) {
  const torch::Device device = setup_runtime(o);
  // A results file scored against the data's references (COCO's format): no model involved.
  struct ResultsFile {
    const char* flag;  // --captions, --detections
    const char* task;
    const char* what;  // "captions of F on S"
    std::function<Json(const std::string&, const std::string&, const std::string&, double)> score;
  };
  for (const auto& kind : {ResultsFile{"captions", "caption", "captions", score_caption_results},
                           ResultsFile{"detections", "detect", "detections", score_detection_results}}) {
    if (!o.has(kind.flag) || o.get_string(kind.flag).empty()) continue;
    const std::string flag = std::string("--") + kind.flag, file = o.get_string(kind.flag);
    if (o.has("checkpoint") && !o.get_string("checkpoint").empty()) throw UsageError("give " + flag + " or --checkpoint, not both");
    if (!o.has("task") || o.get_string("task") != kind.task) throw UsageError(flag + " needs --task " + kind.task);
    const std::string split = o.get_string("split");
    Json result = kind.score(fs::absolute(require(o, "data")).string(), split, file, o.get_double("val_fraction"));
    Json out = {{"task", kind.task}, {"model", nullptr}, {"split", split}, {"examples", result.at("examples")}, {"metrics", result.at("metrics")}};
    if (o.get_bool("json")) {
      print_json(out);
    } else {
      std::printf("%s of %s on %s (%lld images)\n", kind.what, file.c_str(), split.c_str(), (long long)out["examples"].get<int64_t>());
      int width = 8;  // the names' column: the longest name and a space
      for (auto it = out["metrics"].begin(); it != out["metrics"].end(); ++it) width = std::max(width, static_cast<int>(it.key().size()) + 1);
      for (auto it = out["metrics"].begin(); it != out["metrics"].end(); ++it) std::printf("  %-*s %.4f\n", width, it.key().c_str(), it.value().get<double>());
    }
    return 0;
  }
  const std::string checkpoint = require(o, "checkpoint");
  auto task = task_from_checkpoint(checkpoint, device);
  task->set_loader(o.get_int("batch_size"), static_cast<int>(o.get_int("workers")));
  task->set_inference_options(o);
  const std::string split = o.get_string("split");
  Json result = task->evaluate(split, o.has("data") ? o.get_string("data") : "");
  for (const auto& notice : task->take_notices()) std::fprintf(stderr, "zoo eval: %s\n", notice.c_str());
  Json out = {{"task", task->name()}, {"model", task->meta().at("model")}, {"split", split},
              {"examples", result.at("examples")}, {"metrics", result.at("metrics")}};
  if (o.get_bool("json")) {
    print_json(out);
  } else {
    std::printf("%s %s on %s (%lld examples)\n", out["task"].get<std::string>().c_str(), out["model"].get<std::string>().c_str(),
                split.c_str(), (long long)out["examples"].get<int64_t>());
    for (auto it = out["metrics"].begin(); it != out["metrics"].end(); ++it) std::printf("  %-8s %.4f\n", it.key().c_str(), it.value().get<double>());
  }
  return 0;
}

int cmd_predict(const Options& o) {
  const torch::Device device = setup_runtime(o);
  const bool has_ckpt = o.has("checkpoint") && !o.get_string("checkpoint").empty();
  const bool has_ts = o.has("torchscript") && !o.get_string("torchscript").empty();
  if (has_ckpt == has_ts) throw UsageError("give exactly one of --checkpoint and --torchscript");
  std::vector<std::string> inputs = o.json().at("input").get<std::vector<std::string>>();
  for (const auto& prompt : o.json().at("prompt").get<std::vector<std::string>>()) inputs.push_back(prompt);
  if (o.has("input_file") && !o.get_string("input_file").empty()) {
    auto lines = data::read_text_lines(o.get_string("input_file"));
    inputs.insert(inputs.end(), lines.begin(), lines.end());
  }
  if (inputs.empty()) throw UsageError("missing --input, --prompt or --input-file (image paths, sentences or a prompt)");
  std::unique_ptr<Task> task;
  if (has_ckpt) {
    task = task_from_checkpoint(o.get_string("checkpoint"), device);
  } else {
    Json meta;
    auto module = load_torchscript(o.get_string("torchscript"), device, &meta);
    task = create_task(meta.at("task").get<std::string>());
    task->setup_from_meta(meta, device, /*build_model=*/false);
    task->use_torchscript(module);
  }
  task->set_loader(o.get_int("batch_size"), 0);
  task->set_inference_options(o);
  Json result = task->predict(inputs, o);
  if (o.get_bool("json")) {
    print_json(result);
    return 0;
  }
  for (const auto& p : result.at("predictions")) {
    if (p.contains("output")) {  // text out: one line per input, in order
      std::printf("%s\n", p.at("output").get<std::string>().c_str());
      continue;
    }
    std::printf("%s\n", p.at("input").get<std::string>().c_str());
    if (p.contains("detections")) {  // detect: one line per object
      for (const auto& d : p.at("detections")) {
        const auto& b = d.at("bbox");
        std::printf("  %-16s %5.1f%%  x %.1f y %.1f w %.1f h %.1f\n", d.at("category").get<std::string>().c_str(), 100.0 * d.at("score").get<double>(),
                    b[0].get<double>(), b[1].get<double>(), b[2].get<double>(), b[3].get<double>());
      }
      continue;
    }
    for (const auto& t : p.at("top"))
      std::printf("  %-20s %6.2f%%\n", t.at("class").get<std::string>().c_str(), 100.0 * t.at("prob").get<double>());
    if (p.contains("neighbours")) {
      std::printf("  nearest training images:\n");
      for (const auto& n : p.at("neighbours"))
        std::printf("    %.3f  %-12s %s\n", n.at("similarity").get<double>(), n.at("class").get<std::string>().c_str(), n.at("file").get<std::string>().c_str());
    }
  }
  return 0;
}

// export and import work on the CPU whatever machine they run on: --device names the CPU or is
// left to auto; another device is refused, not silently ignored.
void require_cpu(const Options& o, const std::string& why) {
  const std::string device = o.get_string("device");
  if (device != "auto" && !parse_device(device).is_cpu()) throw UsageError("--device " + device + ": " + why);
}

// safetensors metadata of a zoo export: the checkpoint's whole meta (task, model, options,
// vocabulary, preprocessing) as JSON, so that `zoo import --from safetensors` rebuilds the model.
constexpr const char* kZooMetaKey = "zoo_meta";

int cmd_export(const Options& o) {
  const std::string format = o.get_string("format");
  if (format != "torchscript" && format != "safetensors") throw UsageError("invalid --format '" + format + "': expected torchscript or safetensors");
  require_cpu(o, format == "safetensors" ? std::string("the weights are written from the CPU; the file names no device")
                                         : std::string("export traces the model on the CPU and writes a file that names no device "
                                                       "(torch.jit.load(F, map_location=...) and torch::jit::load(F, device) put it on any device)"));
  set_threads(static_cast<int>(o.get_int("threads")));
  const std::string checkpoint = require(o, "checkpoint"), out = require(o, "out");
  auto task = task_from_checkpoint(checkpoint, torch::kCPU);
  if (format == "safetensors") {
    const Json meta = task->meta();
    // "format": "pt" as safetensors.torch.save_file writes it; the model's config beside.
    write_safetensors(out, state_dict(*task->model()),
                      {{"format", "pt"}, {"zoo_task", task->name()}, {"zoo_model", meta.at("model").get<std::string>()},
                       {"zoo_model_options", meta.at("model_options").dump()}, {kZooMetaKey, meta.dump()}});
  } else {
    task->export_torchscript(out);
  }
  std::printf("exported %s to %s\n", checkpoint.c_str(), out.c_str());
  return 0;
}

int cmd_visualize(const Options& o) {
  const torch::Device device = setup_runtime(o);
  auto task = task_from_checkpoint(require(o, "checkpoint"), device);
  task->set_inference_options(o);
  for (const auto& path : task->visualize(require(o, "input"), require(o, "out"))) std::printf("wrote %s\n", path.c_str());
  return 0;
}

int cmd_import(const Options& o) {
  require_cpu(o, "import converts the weights on the CPU; the checkpoint it writes loads on any device");
  set_threads(static_cast<int>(o.get_int("threads")));
  const std::string from = o.get_string("from");
  // The naming each source's state dicts follow, and the task of the models that have it;
  // safetensors holds any model's tensors under its own (published) names.
  const std::map<std::string, std::vector<std::string>> tasks_of_source{
      {"torchvision", {"classify", "video"}}, {"detr", {"detect"}}, {"clip", {"clip"}}, {"timesformer", {"video"}}, {"crnn", {"ocr"}}, {"bert", {"mlm"}},
      {"safetensors", {}}};
  if (!tasks_of_source.count(from))
    throw UsageError("invalid --from '" + from + "': expected torchvision, detr, clip, timesformer, crnn, bert or safetensors");
  const std::string model = require(o, "model"), path = require(o, "state_dict"), out = require(o, "out");
  const ModelSpec& spec = registry().model(model);
  const auto& tasks = tasks_of_source.at(from);
  if (!tasks.empty() && std::find(tasks.begin(), tasks.end(), spec.task) == tasks.end()) {
    std::string names;
    for (const auto& t : tasks) names += (names.empty() ? "" : " and ") + t;
    throw UsageError("--from " + from + " imports " + names + " models; " + model + " is a " + spec.task + " model");
  }
  if (from == "timesformer" && model.rfind("timesformer", 0) != 0)
    throw UsageError("--from timesformer imports the authors' TimeSformer checkpoints into timesformer_*; " + model + " is not one");
  const auto set = o.json().at("set").get<std::vector<std::string>>();
  NamedTensors tensors;
  std::unique_ptr<Task> task;
  Json meta;
  if (from == "safetensors") {
    SafetensorsFile file = read_safetensors(path);
    tensors = std::move(file.tensors);
    if (file.metadata.count(kZooMetaKey)) {
      // zoo's own export: the checkpoint's meta, vocabulary and all.
      try {
        meta = Json::parse(file.metadata.at(kZooMetaKey));
      } catch (const std::exception&) {
        throw Error(path + ": its " + kZooMetaKey + " metadata is not valid JSON");
      }
      if (!meta.is_object() || !meta.contains("task") || !meta.contains("model") || !meta.at("task").is_string() || !meta.at("model").is_string())
        throw Error(path + ": its " + kZooMetaKey + " metadata names no task and model");
      if (meta.at("model").get<std::string>() != model)
        throw UsageError(path + " holds a " + meta.at("model").get<std::string>() + " (its zoo_meta), not " + model);
      if (!set.empty()) throw UsageError("--set: " + path + " is a zoo export, whose metadata fixes the model's options");
      task = create_task(meta.at("task").get<std::string>());
    }
  } else {
    tensors = read_torch_state_dict(path);
  }
  if (!task) {
    task = create_task(spec.task);
    task->rename_published(tensors);
    meta = task->import_meta(model, spec.options.resolve(set, "model " + model), tensors);
  }
  meta["imported_from"] = {{"format", from}, {"file", fs::absolute(path).string()}};
  task->setup_from_meta(meta, torch::kCPU);
  task->adapt_weights(tensors);  // e.g. a ViT's position embeddings for --set input_size
  load_state_dict(*task->model(), tensors, path);
  save_checkpoint(out, {meta, state_dict(*task->model()), nullptr, false});
  std::printf("imported %s (%zu tensors) into %s\n", path.c_str(), tensors.size(), out.c_str());
  return 0;
}

int cmd_data_synth(const Options& o) {
  const std::string kind = o.get_string("kind"), out = require(o, "out");
  SynthRequest request{out, o.get_int("n"), o.get_int("image_size"), static_cast<uint64_t>(o.get_int("seed"))};
  if (request.n <= 0) throw UsageError("invalid --n: expected a positive integer");
  for (const auto& t : task_specs()) {
    if (!t.synthetic.empty() && t.synthetic == "synth:" + kind) {
      std::printf("%s\n", t.write_synthetic(request).c_str());
      return 0;
    }
  }
  throw UsageError("invalid --kind '" + kind + "': expected one of " + synthetic_kinds_help());
}

int cmd_data_tokenize(const Options& o) {
  const auto texts = o.json().at("text").get<std::vector<std::string>>();
  if (texts.empty()) throw UsageError("missing --text");
  const std::string tokenizer = o.get_string("tokenizer"), checkpoint = o.get_string("checkpoint");
  if (tokenizer.empty() == checkpoint.empty()) throw UsageError("give exactly one of --tokenizer clip and --checkpoint C");
  std::function<std::vector<int64_t>(const std::string&)> ids;
  std::optional<text::ClipBpe> bpe;
  std::unique_ptr<Task> task;
  if (!tokenizer.empty()) {
    if (tokenizer != "clip") throw UsageError("invalid --tokenizer '" + tokenizer + "': expected clip (or --checkpoint C for a trained model's)");
    bpe = text::ClipBpe::from_file(text::find_clip_merges_file(o.get_string("bpe")));
    ids = [&](const std::string& t) { return bpe->encode(t); };
  } else {
    task = task_from_checkpoint(checkpoint, torch::kCPU);
    ids = [&](const std::string& t) { return task->tokenize(t); };
  }
  for (const auto& t : texts) {
    std::string line;
    for (int64_t id : ids(t)) line += (line.empty() ? "" : " ") + std::to_string(id);
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

int cmd_bench(const Options& o) {
  const torch::Device device = setup_runtime(o);
  std::string names = o.get_string("config");
  auto results = run_benchmarks(names, device, o);
  for (const auto& r : results) {
    if (o.get_bool("json")) {
      print_json(r);
    } else {
      std::printf("%-16s %10.1f %s/s  %9.1f ms/step  peak RSS %.0f MB  (%s)\n", r.at("config").get<std::string>().c_str(),
                  r.at("per_s").get<double>(), r.at("unit").get<std::string>().c_str(), r.at("step_ms").get<double>(),
                  r.at("peak_rss_mb").get<double>(), r.at("device").get<std::string>().c_str());
    }
  }
  return 0;
}

std::string clock_text(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof(text), "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
  return text;
}

// A run's name in a listing: its folder relative to the folder listed ("." for that folder).
std::string run_name(const std::string& folder, const std::string& root) {
  std::error_code ec;
  const std::string relative = fs::relative(folder, root, ec).string();
  return ec || relative.empty() ? folder : relative;
}

// The last evaluation's value of a metric (val_NAME, or NAME as metrics.jsonl has it).
std::optional<double> last_value(const RunInfo& run, const std::string& name) {
  for (auto it = run.evaluations.rbegin(); it != run.evaluations.rend(); ++it)
    for (const std::string& key : {"val_" + name, name})
      if (it->contains(key) && it->at(key).is_number()) return it->at(key).get<double>();
  return std::nullopt;
}

int cmd_runs(const Options& o) {
  const auto given = o.json().at("folder").get<std::vector<std::string>>();
  if (given.size() > 1) throw UsageError("give one FOLDER (the runs under it are listed)");
  const std::string root = given.empty() ? "runs" : given.front();
  std::vector<RunInfo> runs;
  for (const auto& folder : find_runs(root)) runs.push_back(read_run(folder));
  // --sort: best (each run's main metric, best first in its own direction), steps, time, or a
  // metric's last value (largest first); --ascending turns the order round. name (the default)
  // is find_runs' order.
  const std::string sort = o.get_string("sort");
  std::function<std::optional<double>(const RunInfo&)> key;
  if (sort == "best") key = [](const RunInfo& r) { return r.best ? std::optional<double>(r.higher_is_better ? *r.best : -*r.best) : std::nullopt; };
  else if (sort == "steps") key = [](const RunInfo& r) { return std::optional<double>(static_cast<double>(r.steps)); };
  else if (sort == "time") key = [](const RunInfo& r) { return r.seconds; };
  else if (!sort.empty() && sort != "name") key = [sort](const RunInfo& r) { return last_value(r, sort); };
  if (key) {
    const bool ascending = o.get_bool("ascending");
    std::stable_sort(runs.begin(), runs.end(), [&](const RunInfo& a, const RunInfo& b) {
      const auto ka = key(a), kb = key(b);
      if (!ka || !kb) return ka.has_value() && !kb.has_value();  // runs without the value last
      return ascending ? *ka < *kb : *ka > *kb;
    });
  }
  if (o.get_bool("json")) {
    Json list = Json::array();
    for (const auto& r : runs)
      list.push_back({{"run", run_name(r.folder, root)}, {"folder", r.folder}, {"task", r.task}, {"model", r.model}, {"data", r.data},
                      {"steps", r.steps}, {"total_steps", r.total_steps}, {"metric", r.metric}, {"best", r.best ? Json(*r.best) : Json(nullptr)},
                      {"seconds", r.seconds ? Json(*r.seconds) : Json(nullptr)}, {"status", r.status}, {"note", r.note},
                      {"last_evaluation", r.evaluations.empty() ? Json(nullptr) : r.evaluations.back()}, {"problems", r.problems}});
    print_json(list);
    return 0;
  }
  if (runs.empty()) {
    std::printf("no runs under %s\n", root.c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"run", "task", "model", "data", "steps", "best", "time", "status"}};
  for (const auto& r : runs) {
    char best[64] = "-";
    if (r.best) std::snprintf(best, sizeof(best), "%s %.4g", r.metric.c_str(), *r.best);
    std::string data = r.data;
    if (data.size() > 32) data = "..." + data.substr(data.size() - 29);
    rows.push_back({run_name(r.folder, root), r.task, r.model, data,
                    std::to_string(r.steps) + (r.total_steps > 0 ? "/" + std::to_string(r.total_steps) : std::string()), best,
                    r.seconds ? clock_text(*r.seconds) : std::string("-"), r.status + (r.note.empty() ? "" : " (" + r.note + ")")});
  }
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c + 1 < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) line += row[c] + (c + 1 < row.size() ? std::string(width[c] - row[c].size() + 2, ' ') : "");
    std::printf("%s\n", line.c_str());
  }
  for (const auto& r : runs)
    for (const auto& problem : r.problems) std::fprintf(stderr, "zoo runs: %s: %s\n", r.folder.c_str(), problem.c_str());
  return 0;
}

int cmd_plot(const Options& o) {
  const auto given = o.json().at("runs").get<std::vector<std::string>>();
  if (given.empty()) throw UsageError("give one or more RUN folders (or folders of runs)");
  const std::string out = require(o, "out");
  std::vector<RunInfo> runs;
  std::vector<std::string> names;
  for (const auto& folder : given) {
    const auto found = find_runs(folder);
    if (found.empty()) throw Error("no run folder (one holding config.json) in " + folder);
    for (const auto& f : found) runs.push_back(read_run(f)), names.push_back(f);
  }
  // Each run by its folder's name, or its whole path where two names would be alike.
  std::map<std::string, int> seen;
  for (const auto& n : names) ++seen[fs::path(n).lexically_normal().filename().string()];
  for (auto& n : names) {
    const std::string base = fs::path(n).lexically_normal().filename().string();
    if (seen[base] == 1 && !base.empty()) n = base;
  }
  const std::string metric = o.get_string("metric");
  if (!metric.empty()) {
    const bool any = std::any_of(runs.begin(), runs.end(), [&](const RunInfo& r) { return last_value(r, metric).has_value(); });
    if (!any) throw UsageError("invalid --metric '" + metric + "': no evaluation of these runs has it");
  }
  for (const auto& r : runs)
    for (const auto& problem : r.problems) std::fprintf(stderr, "zoo plot: %s: %s\n", r.folder.c_str(), problem.c_str());
  const cv::Mat image = viz::line_charts(run_curves(runs, metric, o.get_bool("log")), names);
  viz::write_png(image, out);
  std::printf("wrote %s (%zu run%s)\n", out.c_str(), runs.size(), runs.size() == 1 ? "" : "s");
  return 0;
}

}  // namespace

Commands make_commands(CLI::App& app) {
  Commands c;
  c.models = std::make_unique<Command>(app, "models", "list every registered model", std::vector<OptionSpec>{
      {"task", nullptr, "", "only the models of this task", Kind::Value, "TASK"},
      {"model", nullptr, "", "one model: its options with their values, defaults and meaning", Kind::Value, "NAME"},
      {"json", nullptr, false, "print JSON (each option with its type, range or choices, default and help)", Kind::Flag},
      {"markdown", nullptr, false, "every model's options as docs/MODELS.md's tables", Kind::Flag}});
  c.train = std::make_unique<Command>(app, "train", "train a model; writes a run folder", train_options());
  c.eval = std::make_unique<Command>(app, "eval", "evaluate a checkpoint", std::vector<OptionSpec>{
      {"checkpoint", nullptr, "", "the checkpoint", Kind::Value, "CKPT"},
      {"data", nullptr, "", "data to evaluate on (default: the data it was trained on)", Kind::Value, "PATH"},
      {"task", nullptr, "", "with --captions or --detections: the task whose results file is scored (caption, detect)", Kind::Value, "TASK"},
      {"captions", nullptr, "", "caption: score this COCO results file ([{\"image_id\", \"caption\"}]) against --data's references; no checkpoint", Kind::Value, "FILE"},
      {"detections", nullptr, "", "detect: score this COCO results file ([{\"image_id\", \"category_id\", \"bbox\", \"score\"}]) against --data's boxes as pycocotools does; no checkpoint", Kind::Value, "FILE"},
      {"val-fraction", 0.1, 0.0, "with --captions or --detections: the share held out as val when --data has no val annotations", Kind::Value, "F"},
      {"split", "val", "", "train | val | test", Kind::Value, "SPLIT"},
      {"batch-size", 64, 0, "examples per batch", Kind::Value, "N"},
      {"workers", 2, 0, "data loader threads", Kind::Value, "N"},
      {"bad-samples", "fail", "", "an unreadable image: fail (naming it) | leave it out of the metrics, listed on stderr", Kind::Value, "ACTION"},
      {"beam", 5, 0, "translate, caption, ocr: beam size (1: greedy; ocr: best path, more: prefix beam search)", Kind::Value, "K"},
      {"length-penalty", 1.0, 0.0, "translate, caption: rank beams by log P / length^A", Kind::Value, "A"},
      {"max-len-ratio", 2.0, 0.0, "translate: at most RATIO x source length + 10 output tokens", Kind::Value, "RATIO"},
      {"zero-shot", nullptr, false, "clip: classify the image folder --data (or synth:shapes) by its class names (top1, top5)", Kind::Flag},
      {"templates", "", "", "clip --zero-shot: prompt templates, one per line with {} for the class name, or a built-in list: cifar10 (the default), scenes (synth:scenes' default)", Kind::Value, "FILE"},
      {"json", nullptr, false, "print one JSON document", Kind::Flag}});
  c.predict = std::make_unique<Command>(app, "predict", "run a model on inputs", std::vector<OptionSpec>{
      {"checkpoint", nullptr, "", "a checkpoint", Kind::Value, "CKPT"},
      {"torchscript", nullptr, "", "an exported TorchScript file", Kind::Value, "FILE.pt"},
      {"input", nullptr, Json::array(), "inputs: image paths, a sentence or a prompt", Kind::List, "X"},
      {"prompt", nullptr, Json::array(), "lm: a text to continue (repeatable; \"\" starts from nothing)", Kind::List, "TEXT"},
      {"input-file", nullptr, "", "inputs from a file, one per line (translate: sentences, output in the same order)", Kind::Value, "FILE"},
      {"topk", 5, 0, "classes to show per image", Kind::Value, "K"},
      {"labels", "", "", "clip: comma-separated texts; each image's probability of each (softmax of 100 x cosine)", Kind::Value, "A,B,..."},
      {"threshold", 0.7, 0.0, "detect: keep detections whose class probability is at least this", Kind::Value, "P"},
      {"results", "", "", "detect: also write the detections as a COCO results file", Kind::Value, "FILE.json"},
      {"out", "", "", "detect: draw the detections over the image into this PNG (several inputs: FILE_1.png, ...)", Kind::Value, "FILE.png"},
      {"beam", 5, 0, "translate, caption, ocr: beam size (1: greedy; ocr: best path, more: prefix beam search)", Kind::Value, "K"},
      {"length-penalty", 1.0, 0.0, "translate, caption: rank beams by log P / length^A", Kind::Value, "A"},
      {"max-len-ratio", 2.0, 0.0, "translate: at most RATIO x source length + 10 output tokens", Kind::Value, "RATIO"},
      {"max-new-tokens", 200, 0, "lm: tokens to generate after each prompt", Kind::Value, "N"},
      {"temperature", 1.0, 0.0, "lm: divide the logits by this before sampling (0: greedy)", Kind::Value, "T"},
      {"top-k", 0, 0, "lm: sample from the K most likely tokens only (0: all); mlm: candidates per [MASK] (0: 5); text_classify: labels listed (0: 3)", Kind::Value, "K"},
      {"top-p", 1.0, 0.0, "lm: sample from the smallest set of tokens whose probability reaches P (1: all)", Kind::Value, "P"},
      {"batch-size", 64, 0, "inputs per batch", Kind::Value, "N"},
      {"json", nullptr, false, "print one JSON document", Kind::Flag}});
  c.export_ = std::make_unique<Command>(app, "export", "write TorchScript that Python and C++ load, or the weights as safetensors", std::vector<OptionSpec>{
      {"checkpoint", nullptr, "", "the checkpoint", Kind::Value, "CKPT"},
      {"out", nullptr, "", "the file to write", Kind::Value, "FILE"},
      {"format", "torchscript", "", "torchscript (a module Python's torch.jit.load and C++ run) | safetensors (the weights, the model's config in the header metadata)", Kind::Value, "FORMAT"},
      {"device", "auto", "", "cpu (or auto): export traces on the CPU and writes a file that names no device; another device is refused", Kind::Value, "DEVICE"}});
  c.visualize = std::make_unique<Command>(app, "visualize", "write a model's attention maps for one input as PNG", std::vector<OptionSpec>{
      {"checkpoint", nullptr, "", "the checkpoint", Kind::Value, "CKPT"},
      {"input", nullptr, "", "one input", Kind::Value, "X"},
      {"out", nullptr, "", "the PNG to write", Kind::Value, "FILE.png"},
      {"beam", 1, 0, "translate, caption: beam size of the translation or caption whose attention is drawn", Kind::Value, "K"},
      {"layer", -1, 0, "char_rnn: the layer whose units are drawn; vit/deit: the layer of the class token's attention (-1: the last)", Kind::Value, "L"},
      {"query", "", "", "swin, pvt, resnet*_sa, timesformer: the query position X,Y in the model's input pixels (timesformer: in the middle frame); detr: the encoder position shown, in the image's pixels (default: the centre)", Kind::Value, "X,Y"},
      {"threshold", 0.7, 0.0, "detect: the objects shown are those whose class probability is at least this", Kind::Value, "P"},
      {"units", "", "", "char_rnn: comma-separated unit numbers (default: the 8 that vary most over the text)", Kind::Value, "U,..."},
      {"signal", "h", "", "char_rnn: h | c (LSTM memory, as tanh c) | a gate: i f o g (LSTM), r z n (GRU)", Kind::Value, "NAME"}});
  c.import = std::make_unique<Command>(app, "import", "turn a PyTorch state_dict or a safetensors file into a zoo checkpoint", std::vector<OptionSpec>{
      {"from", "torchvision", "", "the naming the state_dict follows: torchvision (classifiers; r2plus1d_18, mvit_v1_b, mvit_v2_s) | timesformer (facebookresearch/TimeSformer's checkpoints) | detr (facebookresearch/detr's detectors) | clip (openai/CLIP's models) | crnn (meijieru/crnn.pytorch's CRNN) | bert (Google's BERT checkpoints as Hugging Face's BertForMaskedLM / BertForPreTraining name them, with --set vocab_file=vocab.txt) | safetensors (a .safetensors file of the model's own names: a published one's, or zoo export --format safetensors)", Kind::Value, "SOURCE"},
      {"model", nullptr, "", "the zoo model with that layout", Kind::Value, "NAME"},
      {"state-dict", nullptr, "", "file written by torch.save(model.state_dict(), f), or a checkpoint dict holding it as \"model\" (DETR's); with --from safetensors a .safetensors file", Kind::Value, "FILE"},
      {"out", nullptr, "", "the checkpoint to write", Kind::Value, "CKPT"},
      {"set", nullptr, Json::array(), "model option key=value (repeatable)", Kind::List, "KEY=VALUE"},
      {"device", "auto", "", "cpu (or auto): the weights are converted on the CPU; another device is refused", Kind::Value, "DEVICE"}});
  c.data = std::make_unique<Command>(app, "data", "data set tools", std::vector<OptionSpec>{});
  c.data->app()->require_subcommand(1);
  c.data_synth = std::make_unique<Command>(*c.data->app(), "synth", "write a built-in synthetic data set in its task's real format", std::vector<OptionSpec>{
      {"kind", "shapes", "", synthetic_kinds_help(), Kind::Value, "KIND"},
      {"out", nullptr, "", "folder to write", Kind::Value, "DIR"},
      {"n", 1000, 0, "training examples (validation: a quarter, at least 64)", Kind::Value, "N"},
      {"image-size", 64, 0, "image side in pixels", Kind::Value, "PX"}});
  c.data_tokenize = std::make_unique<Command>(*c.data->app(), "tokenize", "print the token ids of texts, one line per text", std::vector<OptionSpec>{
      {"tokenizer", "", "", "clip: CLIP's byte-level BPE (ids without <|startoftext|> and <|endoftext|>)", Kind::Value, "NAME"},
      {"checkpoint", "", "", "instead: the tokenizer of this checkpoint's model", Kind::Value, "CKPT"},
      {"bpe", "", "", "clip: the merges file (default: $ZOO_CLIP_BPE, $ZOO_SHARED_DATA/clip/, ../shared/data/clip/)", Kind::Value, "FILE"},
      {"text", nullptr, Json::array(), "a text (repeatable)", Kind::List, "T"}});
  c.bench = std::make_unique<Command>(app, "bench", "time training steps of named benchmark configurations", std::vector<OptionSpec>{
      {"config", "all", "", "comma-separated configuration names, or all: " + benchmark_names(), Kind::Value, "NAME,..."},
      {"data", nullptr, "", "image folder for loader_folder (default: ../shared/data/tiny_coco)", Kind::Value, "DIR"},
      {"warmup", 2, 0, "untimed steps first", Kind::Value, "N"},
      {"steps", 5, 0, "timed steps", Kind::Value, "N"},
      {"precision", "fp32", "", "fp32 | bf16 | fp16 (CUDA): autocast in resnet18_64, transformer_mt and vit_cifar", Kind::Value, "P"},
      {"profile", "", "", "after the timed steps, profile 3 more (LibTorch's profiler) into DIR/CONFIG.zoo.trace.json (Chrome trace; benchmarks/profile_table.py)", Kind::Value, "DIR"},
      {"json", nullptr, false, "one JSON object per line", Kind::Flag}});
  c.plot = std::make_unique<Command>(app, "plot", "training and validation curves of runs on shared axes, as PNG", std::vector<OptionSpec>{
      {"runs", nullptr, Json::array(), "run folders, or folders of runs", Kind::Positional, "RUN"},
      {"out", nullptr, "", "the PNG to write", Kind::Value, "FILE.png"},
      {"metric", "", "", "the validation metric of the middle panel (default: each run's task's main metric)", Kind::Value, "NAME"},
      {"log", nullptr, false, "the loss and learning-rate axes on a log scale", Kind::Flag}});
  c.runs = std::make_unique<Command>(app, "runs", "a table of the runs under a folder", std::vector<OptionSpec>{
      {"folder", nullptr, Json::array(), "the folder of runs (default: runs), or one run folder", Kind::Positional, "FOLDER"},
      {"sort", "", "", "best (each run's main metric, best first) | steps | time | name | a metric's last value (largest first) [default: name]", Kind::Value, "KEY"},
      {"ascending", nullptr, false, "with --sort: smallest first", Kind::Flag},
      {"json", nullptr, false, "print one JSON list", Kind::Flag}});
  c.completion = std::make_unique<Command>(app, "completion", "print a shell-completion script", std::vector<OptionSpec>{
      {"shell", nullptr, Json::array(), "bash | zsh", Kind::Positional, "SHELL"}});
  return c;
}

int run_command(const Commands& c, CLI::App& app) {
  if (c.models->parsed()) return cmd_models(Options(c.models->resolve()));
  if (c.train->parsed()) return cmd_train(*c.train);
  if (c.eval->parsed()) return cmd_eval(Options(c.eval->resolve()));
  if (c.predict->parsed()) return cmd_predict(Options(c.predict->resolve()));
  if (c.export_->parsed()) return cmd_export(Options(c.export_->resolve()));
  if (c.visualize->parsed()) return cmd_visualize(Options(c.visualize->resolve()));
  if (c.import->parsed()) return cmd_import(Options(c.import->resolve()));
  if (c.data_synth->parsed()) return cmd_data_synth(Options(c.data_synth->resolve()));
  if (c.data_tokenize->parsed()) return cmd_data_tokenize(Options(c.data_tokenize->resolve()));
  if (c.bench->parsed()) return cmd_bench(Options(c.bench->resolve()));
  if (c.plot->parsed()) return cmd_plot(Options(c.plot->resolve()));
  if (c.runs->parsed()) return cmd_runs(Options(c.runs->resolve()));
  if (c.completion->parsed()) {
    const auto shell = c.completion->resolve().at("shell").get<std::vector<std::string>>();
    if (shell.size() != 1) throw UsageError("give the shell: zoo completion bash | zoo completion zsh");
    std::vector<std::pair<std::string, const Command*>> all;
    for (const auto* command : {&c.models, &c.train, &c.eval, &c.predict, &c.export_, &c.visualize, &c.import, &c.data, &c.bench, &c.plot,
                                &c.runs, &c.completion})
      all.emplace_back((*command)->name(), command->get());
    all.emplace_back("data synth", c.data_synth.get());
    all.emplace_back("data tokenize", c.data_tokenize.get());
    std::printf("%s", completion_script(shell.front(), all).c_str());
    return 0;
  }
  throw UsageError("no command given; see zoo --help");
}

}  // namespace zoo::cli
