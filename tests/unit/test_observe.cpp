// TensorBoard event files (framing, CRCs, resume without repeated steps), safetensors (round
// trip of every dtype, aligned data, headers that lie refused), the plot's axis ticks, and what
// `zoo runs` reads of made-up run folders.
#include <catch2/catch.hpp>

#include <sys/file.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "lib/core/error.h"
#include "lib/export/safetensors.h"
#include "lib/export/safetensors_format.h"
#include "lib/train/run_folder.h"
#include "lib/train/tensorboard.h"
#include "lib/viz/plot.h"

namespace test_observe {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

namespace fs = std::filesystem;
using namespace zoo;

namespace {

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("zoo-observe-" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// (tag, step) of every scalar in the folder's newest event file, in file order.
std::vector<std::pair<std::string, int64_t>> scalar_steps(const fs::path& folder) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& record : tensorboard::scan_records(read_all(tensorboard::event_files(folder.string()).back())).records) {
    auto event = tensorboard::parse_event(record);
    REQUIRE(event);
    for (const auto& [tag, value] : event->scalars) out.emplace_back(tag, event->step);
  }
  return out;
}

std::string u64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

// A safetensors file from a header text and data bytes, as a hand-written one would be.
std::string safetensors_file(const std::string& header, const std::string& data) { return u64(header.size()) + header + data; }

}  // namespace

TEST_CASE("CRC-32C and TFRecord framing: the check value, round trip, torn and corrupt records", "[tensorboard]") {
  // The CRC-32C check value of "123456789" (RFC 3720, B.4).
  CHECK(tensorboard::crc32c("123456789") == 0xE3069283u);
  CHECK(tensorboard::crc32c("") == 0u);
  const std::string a = tensorboard::frame_record("first"), b = tensorboard::frame_record(std::string(300, 'x'));
  CHECK(a.size() == 8 + 4 + 5 + 4);
  auto scan = tensorboard::scan_records(a + b);
  REQUIRE(scan.records.size() == 2);
  CHECK(scan.records[0] == "first");
  CHECK(scan.problem.empty());
  CHECK(scan.intact_bytes == a.size() + b.size());
  // A kill in the middle of the second record: the first survives, the tail is named.
  scan = tensorboard::scan_records(a + b.substr(0, 40));
  CHECK(scan.records.size() == 1);
  CHECK(scan.intact_bytes == a.size());
  CHECK_THAT(scan.problem, Catch::Contains("torn"));
  // A flipped data byte fails the data CRC; a flipped length byte the length CRC.
  std::string flipped = a + b;
  flipped[a.size() + 20] ^= 1;
  scan = tensorboard::scan_records(flipped);
  CHECK(scan.records.size() == 1);
  CHECK_THAT(scan.problem, Catch::Contains("data CRC"));
  flipped = a + b;
  flipped[a.size() + 1] ^= 1;
  CHECK_THAT(tensorboard::scan_records(flipped).problem, Catch::Contains("length CRC"));
}

TEST_CASE("EventWriter: scalars, images and text read back; a resumed run drops what came after its step", "[tensorboard]") {
  if (!tensorboard::available()) return;
  const fs::path dir = scratch("events");
  {
    tensorboard::EventWriter writer(dir.string(), std::nullopt);
    writer.text("config", 0, "options");
    for (int64_t step = 1; step <= 20; ++step) writer.scalar("train/loss", step, 1.0 / static_cast<double>(step));
    writer.image_png("attention", 20, std::string("\x89PNG fake", 9), 4, 6);
    writer.flush();
  }
  const auto files = tensorboard::event_files(dir.string());
  REQUIRE(files.size() == 1);
  CHECK_THAT(fs::path(files[0]).filename().string(), Catch::StartsWith("events.out.tfevents."));
  const auto records = tensorboard::scan_records(read_all(files[0])).records;
  REQUIRE(records.size() == 1 + 1 + 20 + 1);
  CHECK(tensorboard::parse_event(records[0])->file_version == "brain.Event:2");
  CHECK(tensorboard::parse_event(records[1])->text_tags == std::vector<std::string>{"config"});
  CHECK(tensorboard::parse_event(records.back())->image_tags == std::vector<std::string>{"attention"});
  auto scalars = tensorboard::read_scalars(dir.string());
  REQUIRE(scalars.size() == 1);
  CHECK(scalars[0].first == "train/loss");
  CHECK(scalars[0].second.size() == 20);
  CHECK(scalars[0].second[3].value == Approx(0.25));

  // Resumed at step 12 after a kill that tore the last record: steps 13.. and the torn bytes go,
  // and the steps logged again appear once.
  {
    std::ofstream(files[0], std::ios::binary | std::ios::app) << tensorboard::frame_record("torn").substr(0, 7);
  }
  {
    tensorboard::EventWriter writer(dir.string(), 12);
    CHECK(writer.path() == files[0]);
    for (int64_t step = 13; step <= 16; ++step) writer.scalar("train/loss", step, 0.5);
    writer.flush();
  }
  const auto steps = scalar_steps(dir);
  std::set<std::pair<std::string, int64_t>> unique(steps.begin(), steps.end());
  CHECK(unique.size() == steps.size());
  CHECK(steps.size() == 16);
  CHECK(steps.back().second == 16);
  CHECK(tensorboard::scan_records(read_all(files[0])).problem.empty());

  // A new run in the folder replaces the old one's file.
  tensorboard::EventWriter fresh(dir.string(), std::nullopt);
  fresh.flush();
  CHECK(tensorboard::event_files(dir.string()).size() == 1);
  CHECK(tensorboard::read_scalars(dir.string()).empty());
}

TEST_CASE("safetensors: every dtype round trips, data 8-byte aligned, metadata kept", "[safetensors]") {
  const fs::path dir = scratch("safetensors");
  NamedTensors tensors{{"f32", torch::randn({3, 4})},
                       {"f64", torch::randn({2}, torch::kFloat64)},
                       {"f16", torch::randn({5}).to(torch::kFloat16)},
                       {"bf16", torch::randn({2, 3}).to(torch::kBFloat16)},
                       {"i64", torch::arange(7, torch::kInt64)},
                       {"i32", torch::arange(3, torch::kInt32)},
                       {"u8", torch::arange(4, torch::kUInt8)},
                       {"bool", torch::tensor({true, false, true})},
                       {"scalar", torch::tensor(2.5)},
                       {"empty", torch::zeros({0, 3})},
                       {"strided", torch::randn({4, 4}).t()}};
  const std::string path = (dir / "all.safetensors").string();
  write_safetensors(path, tensors, {{"format", "pt"}, {"note", "x"}});
  const std::string bytes = read_all(path);
  const auto header = safetensors::parse_header(bytes, path);
  CHECK(header.data_start % 8 == 0);
  for (const auto& e : header.entries) CHECK(e.begin % safetensors::dtype_size(e.dtype) == 0);
  const auto file = read_safetensors(path);
  CHECK(file.metadata.at("format") == "pt");
  REQUIRE(file.tensors.size() == tensors.size());
  for (const auto& [name, tensor] : tensors) {
    INFO(name);
    const auto& back = file.tensors.at(name);
    CHECK(back.scalar_type() == tensor.scalar_type());
    CHECK(back.sizes() == tensor.sizes());
    CHECK(torch::equal(back, tensor.contiguous()));
  }
}

TEST_CASE("safetensors: a file written by hand as the format says reads; headers that lie are refused", "[safetensors]") {
  // Two F32 values then one I64, described in a header written as text.
  std::string data;
  for (float v : {1.5f, -2.0f}) data.append(reinterpret_cast<const char*>(&v), 4);
  const int64_t seven = 7;
  data.append(reinterpret_cast<const char*>(&seven), 8);
  const std::string good = R"({"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const auto header = safetensors::parse_header(safetensors_file(good, data), "good");
  REQUIRE(header.entries.size() == 2);
  CHECK(header.entries[0].name == "w");  // in data order

  auto refused = [&](const std::string& text, const std::string& bytes, const std::string& why) {
    INFO(text);
    CHECK_THROWS_WITH(safetensors::parse_header(safetensors_file(text, bytes), "bad.safetensors"), Catch::Contains(why));
  };
  refused(R"({"w":{"dtype":"F32","shape":[5],"data_offsets":[0,20]}})", data, "runs past the end of the data");
  refused(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}})", data, "needs 12");
  refused(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"c":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
          data, "overlaps");
  refused(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}})", data, "a gap of 4 bytes");
  refused(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data, "8 bytes after the last tensor");
  refused(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data, "ends before it begins");
  refused(R"({"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", data, "dtype C64");
  refused(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data, "not a non-negative integer");
  refused(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", data, "overflows");
  refused(R"({"w":{"dtype":"F32","shape":[2]}})", data, "has no data_offsets");
  refused(R"({"__metadata__":{"n":1}})", "", "is not a text");
  refused(R"([1,2])", "", "does not start with '{'");
  refused(R"({"w": )", "", "not valid JSON");
  CHECK_THROWS_WITH(safetensors::parse_header(u64(1000) + "{}", "short"), Catch::Contains("runs past the end of the file"));
  CHECK_THROWS_WITH(safetensors::parse_header(u64(uint64_t(1) << 40) + "{}", "huge"), Catch::Contains("100 MB"));
  CHECK_THROWS_WITH(safetensors::parse_header("abc", "tiny"), Catch::Contains("no 8-byte header length"));
}

TEST_CASE("plot axes: 1-2-5 ticks, powers of ten on a log scale", "[plot]") {
  auto same = [](const std::vector<double>& got, const std::vector<double>& want) {
    if (got.size() != want.size()) return false;
    for (size_t i = 0; i < got.size(); ++i)
      if (got[i] != Approx(want[i]).margin(1e-12)) return false;
    return true;
  };
  CHECK(same(viz::axis_ticks(0, 1, 5, false), {0, 0.2, 0.4, 0.6, 0.8, 1}));
  CHECK(same(viz::axis_ticks(0, 1000, 5, false), {0, 200, 400, 600, 800, 1000}));
  CHECK(same(viz::axis_ticks(-0.03, 0.07, 5, false), {-0.02, 0, 0.02, 0.04, 0.06}));
  CHECK(same(viz::axis_ticks(1e-4, 1, 5, true), {1e-4, 1e-3, 1e-2, 1e-1, 1}));
  CHECK(same(viz::axis_ticks(0.3, 4, 5, true), {0.5, 1, 2}));
  CHECK(viz::axis_ticks(0, 1, 5, true).empty());  // no log axis through zero
}

TEST_CASE("run folders: status from train.log and the lock, the best metric past a damaged line", "[runs]") {
  const fs::path root = scratch("runs");
  auto make_run = [&](const std::string& name, const std::string& log, const std::string& metrics) {
    const fs::path dir = root / name;
    fs::create_directories(dir);
    write_all(dir / "config.json", R"({"task": "classify", "model": "resnet18", "data": "synth:shapes", "steps": 40})");
    write_all(dir / "train.log", log);
    write_all(dir / "metrics.jsonl", metrics);
    return dir;
  };
  const std::string start = "training resnet18 for 40 steps (20 per epoch, 640 examples), run folder x\n";
  make_run("a_finished", start + "epoch 1 step 20/40 loss 1.0 lr 0.1 10.0 ex/s ETA 0:01\n" + "done: 40 steps in 0:50 (run time 1:02:05); best top1 80.0\n",
           "{\"step\": 20, \"val_top1\": 60.0, \"run_seconds\": 30}\n{\"step\": 40, \"val_top1\": 80.0, \"run_seconds\": 3725}\n");
  make_run("b_damaged", start + "interrupted at step 30; saved last.ckpt\n",
           "{\"step\": 20, \"val_top1\": 70.0}\n{\"step\": 30, \"val_t\n{\"step\": 30, \"val_top1\": 75.0}\n");
  make_run("c_failed", start + "error: the loss is nan at step 3 (epoch 1, batch 3)\n", "");
  make_run("d_killed", start + "epoch 1 step 8/40 loss 1.0 lr 0.1 10.0 ex/s ETA 0:01\n", "");
  const fs::path running = make_run("e_running", start, "");
  fs::create_directories(root / "a_finished" / "tb");  // a run's own sub-folders hold no runs

  const auto found = find_runs(root.string());
  REQUIRE(found.size() == 5);
  CHECK(find_runs((root / "a_finished").string()) == std::vector<std::string>{(root / "a_finished").string()});
  const int fd = ::open(run_lock_path(running.string()).c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(::flock(fd, LOCK_EX) == 0);

  const RunInfo a = read_run(found[0]), b = read_run(found[1]), c = read_run(found[2]), d = read_run(found[3]), e = read_run(found[4]);
  ::close(fd);
  CHECK(a.status == "finished");
  CHECK(a.metric == "top1");
  CHECK(*a.best == 80.0);
  CHECK(a.steps == 40);
  CHECK(a.total_steps == 40);
  CHECK(*a.seconds == Approx(3725));
  CHECK(b.status == "stopped");
  CHECK(b.note == "interrupted at step 30");
  CHECK(*b.best == 75.0);
  REQUIRE(b.problems.size() == 1);
  CHECK_THAT(b.problems[0], Catch::Contains("metrics.jsonl line 2"));
  CHECK(c.status == "failed");
  CHECK_THAT(c.note, Catch::StartsWith("the loss is nan"));
  CHECK(d.status == "failed");
  CHECK(d.steps == 8);
  CHECK_THAT(d.note, Catch::Contains("killed"));
  CHECK(e.status == "running");
  CHECK(read_run(found[4]).status == "failed");  // the lock released: nobody runs it
  CHECK_THROWS_AS(read_run(root.string()), Error);

  const auto panels = run_curves({a, b}, "", false);
  REQUIRE(panels.size() == 3);
  CHECK(panels[1].title == "validation top1");
  CHECK(panels[1].series[0].points.size() == 2);
  CHECK(panels[1].series[1].points.size() == 2);  // the damaged line skipped
}

}  // namespace test_observe
