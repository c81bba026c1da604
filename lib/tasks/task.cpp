#include "lib/tasks/task.h"

#include <filesystem>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "data/datasets.h"
#include "data/loader.h"
#include "lib/core/error.h"
#include "lib/tasks/builtin.h"

namespace fs = std::filesystem;

namespace zoo {

void Task::throw_not_available(const std::string& command) const {
  throw UsageError(command + " is not available yet for task " + name());
}

std::vector<std::string> Task::visualize_image(const cv::Mat& rgb, const std::string& out_png) {
  const std::string input = out_png + ".input.png";
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  if (!cv::imwrite(input, bgr)) throw Error("cannot write " + input);
  struct Remove {
    std::string path;
    ~Remove() {
      std::error_code ec;
      fs::remove(path, ec);
    }
  } remove{input};
  return visualize(input, out_png);
}

std::string markdown_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  auto cell = [](const std::string& text) {
    std::string out;
    for (char c : text) {
      if (c == '|') out += "\\|";
      else if (c == '\n') out += "<br>";
      else out += c;
    }
    return out;
  };
  std::string table = "|", rule = "|";
  for (const auto& name : header) table += " " + cell(name) + " |", rule += "---|";
  table += "\n" + rule + "\n";
  for (const auto& row : rows) {
    table += "|";
    for (const auto& value : row) table += " " + cell(value) + " |";
    table += "\n";
  }
  return table;
}

void Task::set_shard(const DataShard& shard) {
  if (shard.world_size * shard.accum_steps > 1)
    throw UsageError("task " + name() + " does not split its batches yet: it trains in one process without --accum-steps");
}

void TaskBase::set_shard(const DataShard& shard) { shard_ = shard; }

std::unique_ptr<BatchStream> TaskBase::micro_batch_stream(int64_t first_batch, std::function<Batch(int64_t, int64_t)> make) const {
  const int64_t parts = shard_.accum_steps;
  return std::make_unique<data::PrefetchLoader>(first_batch * parts, batches_per_epoch() * parts,
                                                [make = std::move(make), parts](int64_t item) { return make(item / parts, item % parts); }, workers_);
}

namespace {

// A library caller (a test, zoo bench) may leave out what `zoo train` always gives.
int64_t int_or(const Options& o, const char* key, int64_t fallback) { return o.has(key) ? o.get_int(key) : fallback; }
double number_or(const Options& o, const char* key, double fallback) { return o.has(key) ? o.get_double(key) : fallback; }

}  // namespace

const TaskSpec& TaskBase::spec() const { return task_spec(name_); }

void TaskBase::check_options(const Options& config) const {
  if (const int64_t batch = int_or(config, "batch_size", 64); batch < 1)
    throw UsageError("invalid --batch-size " + std::to_string(batch) + ": expected a positive integer");
  if (const int64_t workers = int_or(config, "workers", 0); workers < 0)
    throw UsageError("invalid --workers " + std::to_string(workers) + ": expected 0 or more");
  if (const int64_t size = int_or(config, "synth_size", 2048); size < 0)
    throw UsageError("invalid --synth-size " + std::to_string(size) + ": expected 0 or more");
  // Every task evaluates on a validation split, so some of the data must be held out for it.
  if (const double fraction = number_or(config, "val_fraction", 0.1); !(fraction > 0 && fraction < 1))
    throw UsageError("invalid --val-fraction " + format_value(fraction) + ": expected a number in (0, 1)");
  if (const double smoothing = number_or(config, "label_smoothing", 0.0); !(smoothing >= 0 && smoothing < 1))
    throw UsageError("invalid --label-smoothing " + format_value(smoothing) + ": expected a number in [0, 1)");
  if (config.has("bad_samples")) data::bad_samples_policy(config.get_string("bad_samples"));
  registry().model_options(config, name_);
}

void TaskBase::setup_common(const Options& config, torch::Device device) {
  check_options(config);
  device_ = device;
  model_name_ = config.get_string("model");
  model_options_ = registry().model_options(config, name_);
  batch_size_ = int_or(config, "batch_size", 64);
  workers_ = static_cast<int>(int_or(config, "workers", 0));
  seed_ = static_cast<uint64_t>(int_or(config, "seed", 0));
  label_smoothing_ = number_or(config, "label_smoothing", 0.0);
  std::string path = config.has("data") ? config.get_string("data") : spec().synthetic;
  if (!is_synthetic(path)) path = fs::absolute(path).lexically_normal().string();
  data_ = {{"path", path}, {"val_fraction", number_or(config, "val_fraction", 0.1)}, {"synth_size", int_or(config, "synth_size", 2048)},
           {"seed", seed_}};
}

void TaskBase::setup_from_meta(const Json& meta, torch::Device device, bool build) {
  device_ = device;
  try {
    model_name_ = meta.at("model").get<std::string>();
    model_options_ = meta.at("model_options");
    data_ = meta.at("data");
    seed_ = data_.at("seed").get<uint64_t>();
    read_meta(meta);
  } catch (const nlohmann::json::exception& e) {
    throw Error("checkpoint meta is incomplete for task " + name_ + ": " + first_line(e.what()));
  }
  if (build) build_model();
}

std::string TaskBase::data_for(const std::string& data) const {
  if (data.empty()) return data_path();
  return is_synthetic(data) ? data : fs::absolute(data).string();
}

bool TaskBase::own_synthetic(const std::string& data) const {
  if (!is_synthetic(data)) return false;
  if (data != spec().synthetic) throw UsageError("unknown synthetic data set '" + data + "' for task " + name_ + "; expected " + spec().synthetic);
  return true;
}

void TaskBase::fit_num_classes(int64_t data_classes) {
  const bool num_classes_set = model_options_.at("num_classes") != registry().model(model_name_).defaults().at("num_classes");
  if (num_classes_set && model_options_.at("num_classes").get<int64_t>() != data_classes)
    throw UsageError("--set num_classes=" + model_options_.at("num_classes").dump() + " but the data has " + std::to_string(data_classes) +
                     " classes");
  model_options_["num_classes"] = data_classes;
}

Json TaskBase::common_meta() const {
  return {{"task", name_}, {"model", model_name_}, {"model_options", model_options_}, {"data", data_}};
}

std::shared_ptr<torch::nn::Module> TaskBase::build_module() {
  module_ = registry().create_model(model_name_, model_options_, name_);
  module_->to(device_);
  return module_;
}

}  // namespace zoo
