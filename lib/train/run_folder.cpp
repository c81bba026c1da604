#include "lib/train/run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "lib/core/error.h"
#include "lib/tasks/builtin.h"
#include "lib/train/tensorboard.h"

namespace fs = std::filesystem;

namespace zoo {

namespace {

// "1:02:03" or "2:03" -> seconds; nullopt for anything else.
std::optional<double> parse_duration(const std::string& text) {
  std::smatch m;
  static const std::regex hms(R"((?:(\d+):)?(\d+):(\d\d))");
  if (!std::regex_match(text, m, hms)) return std::nullopt;
  return (m[1].matched ? std::stod(m[1].str()) * 3600 : 0.0) + std::stod(m[2].str()) * 60 + std::stod(m[3].str());
}

// What train.log says: the steps reached and how the last attempt ended.
void read_log(const std::string& path, RunInfo& run) {
  std::ifstream in(path);
  if (!in) {
    run.problems.push_back("no train.log");
    return;
  }
  static const std::regex progress(R"(^epoch \d+ step (\d+)/(\d+) )"), done(R"(^done: (\d+) steps in (\S+)(?: \(run time ([0-9:]+)\))?)"),
      resumed(R"(^resumed .* at step (\d+) )"), training(R"(^training \S+ for (\d+) steps)"), stopped(R"(^(interrupted|terminated) at step (\d+))");
  std::string line, ending;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, training)) {
      run.total_steps = std::stoll(m[1].str());
      ending = "", run.note = "";
    } else if (std::regex_search(line, m, progress)) {
      run.steps = std::max<int64_t>(run.steps, std::stoll(m[1].str()));
      run.total_steps = std::stoll(m[2].str());
    } else if (std::regex_search(line, m, resumed)) {
      run.steps = std::max<int64_t>(run.steps, std::stoll(m[1].str()));
    } else if (std::regex_search(line, m, done)) {
      run.steps = std::max<int64_t>(run.steps, std::stoll(m[1].str()));
      ending = "finished";
      if (m[3].matched) run.seconds = parse_duration(m[3].str());
    } else if (std::regex_search(line, m, stopped)) {
      run.steps = std::max<int64_t>(run.steps, std::stoll(m[2].str()));
      ending = "stopped", run.note = m[1].str() + " at step " + m[2].str();
    } else if (line.rfind("error: ", 0) == 0) {
      ending = "failed", run.note = line.substr(7);
    }
  }
  run.status = ending;
}

}  // namespace

std::string run_lock_path(const std::string& folder) { return (fs::path(folder) / ".lock").string(); }

bool run_is_locked(const std::string& folder) {
  const int fd = ::open(run_lock_path(folder).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool locked = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return locked;
}

RunFolderLock::RunFolderLock(const std::string& folder) {
  const std::string path = run_lock_path(folder);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot create " + path + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    throw Error("another zoo train is running in " + folder + " (it holds " + path + ")");
  }
}

RunFolderLock::~RunFolderLock() { ::close(fd_); }

RunInfo read_run(const std::string& folder) {
  RunInfo run;
  run.folder = folder;
  const fs::path dir(folder);
  {
    std::ifstream in(dir / "config.json");
    if (!in) throw Error(folder + " is not a run folder (no config.json)");
    try {
      run.config = Json::parse(in);
    } catch (const std::exception&) {
      run.problems.push_back("config.json is not valid JSON");
    }
    if (!run.config.is_object()) run.config = Json::object();
  }
  auto text = [&](const char* key) { return run.config.contains(key) && run.config.at(key).is_string() ? run.config.at(key).get<std::string>() : std::string(); };
  run.task = text("task"), run.model = text("model"), run.data = text("data");
  if (!run.task.empty()) {
    for (const auto& spec : task_specs()) {
      if (spec.name != run.task || !spec.create) continue;
      auto task = spec.create();
      run.metric = task->main_metric(), run.higher_is_better = task->higher_is_better();
    }
  }
  std::ifstream metrics(dir / "metrics.jsonl");
  std::string line;
  for (int64_t number = 1; std::getline(metrics, line); ++number) {
    if (line.empty()) continue;
    Json entry;
    try {
      entry = Json::parse(line);
    } catch (const std::exception&) {
    }
    if (!entry.is_object() || !entry.contains("step") || !entry.at("step").is_number()) {
      run.problems.push_back("metrics.jsonl line " + std::to_string(number) + " is not an evaluation (skipped)");
      continue;
    }
    run.evaluations.push_back(entry);
  }
  const std::string key = "val_" + run.metric;
  for (const auto& e : run.evaluations) {
    if (!e.contains(key) || !e.at(key).is_number()) continue;
    const double v = e.at(key).get<double>();
    if (!std::isfinite(v)) continue;
    if (!run.best || (run.higher_is_better ? v > *run.best : v < *run.best)) run.best = v;
  }
  read_log((dir / "train.log").string(), run);
  if (!run.evaluations.empty()) {
    const Json& last = run.evaluations.back();
    run.steps = std::max<int64_t>(run.steps, last.at("step").get<int64_t>());
    // The last evaluation's count (to the millisecond) or the log's (to the second), the later.
    for (const char* seconds : {"run_seconds", "elapsed_seconds"}) {
      if (!last.contains(seconds) || !last.at(seconds).is_number()) continue;
      run.seconds = std::max(run.seconds.value_or(0.0), last.at(seconds).get<double>());
      break;
    }
  }
  if (run.total_steps == 0 && run.config.contains("steps") && run.config.at("steps").is_number_integer()) run.total_steps = run.config.at("steps");
  if (run_is_locked(folder)) {
    run.status = "running", run.note = "";
  } else if (run.status.empty()) {
    run.status = "failed";
    if (run.note.empty()) run.note = "train.log has no last line (the process was killed?)";
  }
  return run;
}

std::vector<std::string> find_runs(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error(root + " is not a folder");
  if (fs::exists(fs::path(root) / "config.json", ec)) return {root};
  std::vector<std::string> found;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    if (it.depth() >= 3) it.disable_recursion_pending();
    if (!it->is_directory(ec)) continue;
    if (fs::exists(it->path() / "config.json", ec)) {
      found.push_back(it->path().string());
      it.disable_recursion_pending();  // a run's own sub-folders (checkpoints/, tb/) hold no runs
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::vector<viz::Panel> run_curves(const std::vector<RunInfo>& runs, const std::string& metric, bool log_scale) {
  viz::Panel loss{"loss", "step", log_scale, {}}, chosen{"", "step", false, {}}, lr{"learning rate", "step", log_scale, {}};
  std::set<std::string> metric_names;
  for (size_t r = 0; r < runs.size(); ++r) {
    const RunInfo& run = runs[r];
    const int index = static_cast<int>(r);
    auto from_evaluations = [&](const std::string& key) {
      viz::Series s{{}, index, true};
      for (const auto& e : run.evaluations)
        if (e.contains(key) && e.at(key).is_number()) s.points.emplace_back(e.at("step").get<double>(), e.at(key).get<double>());
      return s;
    };
    std::map<std::string, std::vector<tensorboard::ScalarPoint>> scalars;
    try {
      for (auto& [tag, points] : tensorboard::read_scalars((fs::path(run.folder) / "tb").string())) scalars[tag] = std::move(points);
    } catch (const Error&) {  // an unreadable file: the evaluations still plot
    }
    auto from_tensorboard = [&](const std::string& tag) {
      viz::Series s{{}, index, false};
      for (const auto& p : scalars[tag]) s.points.emplace_back(static_cast<double>(p.step), p.value);
      return s;
    };
    viz::Series train_loss = scalars.count("train/loss") ? from_tensorboard("train/loss") : from_evaluations("train_loss");
    train_loss.dots = false;
    loss.series.push_back(train_loss);
    if (auto val_loss = from_evaluations("val_loss"); !val_loss.points.empty()) loss.series.push_back(val_loss);
    const std::string name = metric.empty() ? run.metric : metric;
    metric_names.insert(name);
    viz::Series m = from_evaluations("val_" + name);
    if (m.points.empty()) m = from_evaluations(name);
    chosen.series.push_back(m);
    viz::Series rate = scalars.count("train/lr") ? from_tensorboard("train/lr") : from_evaluations("lr");
    rate.dots = false;
    lr.series.push_back(rate);
  }
  for (const auto& n : metric_names) chosen.title += (chosen.title.empty() ? "" : " / ") + n;
  chosen.title = "validation " + chosen.title;
  return {loss, chosen, lr};
}

}  // namespace zoo
