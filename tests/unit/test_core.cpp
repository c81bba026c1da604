// Core library: options, registry, device parsing, checkpoints, schedules.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <iterator>

#include "lib/core/checkpoint.h"
#include "lib/core/error.h"
#include "lib/core/option_schema.h"
#include "lib/core/registry.h"
#include "lib/core/runtime.h"
#include "lib/tasks/builtin.h"
#include "lib/tasks/task.h"
#include "lib/train/optim.h"

namespace test_core {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

namespace fs = std::filesystem;
using namespace zoo;

namespace {

// A config struct with one option of each type, declared as the models declare theirs.
struct ExampleConfig {
  int64_t hidden = 256;
  double dropout = 0.1;
  std::string attention = "bahdanau";
  bool tied = false;
  std::vector<double> mean{0.5, 0.5};
  std::vector<int64_t> depths{2, 2};
  static const OptionSchema<ExampleConfig>& options() {
    static const auto schema = OptionSchema<ExampleConfig>("example")
                                   .option("hidden", &ExampleConfig::hidden, at_least(1), "state width")
                                   .option("dropout", &ExampleConfig::dropout, fraction(), "dropout rate")
                                   .option("attention", &ExampleConfig::attention, one_of({"bahdanau", "luong"}), "score")
                                   .option("tied", &ExampleConfig::tied, "tie weights")
                                   .option("mean", &ExampleConfig::mean, anything(), "means")
                                   .option("depths", &ExampleConfig::depths, at_least(1), "blocks per stage")
                                   .rule([](const ExampleConfig& c) {
                                     if (c.tied && c.hidden != 256) throw UsageError("tied needs hidden 256, not " + std::to_string(c.hidden));
                                   });
    return schema;
  }
};

}  // namespace

TEST_CASE("OptionSet::resolve converts to each option's type and rejects unknown keys, bad values and broken rules", "[core]") {
  ExampleConfig variant;
  variant.hidden = 128;  // a registered variant's own default
  OptionSet options;
  options.add(ExampleConfig::options(), variant);
  CHECK(options.defaults().at("hidden") == 128);
  Json out = options.resolve({"hidden=512", "dropout=0.3", "tied=false", "mean=0.1,0.2", "attention=luong", "depths=2,2,6"}, "model m");
  CHECK(out["hidden"] == 512);
  CHECK(out["dropout"].get<double>() == Approx(0.3));
  CHECK(out["tied"] == false);
  CHECK(out["mean"][1].get<double>() == Approx(0.2));
  CHECK(out["attention"] == "luong");
  CHECK(out["depths"] == Json::array({2, 2, 6}));
  CHECK_THROWS_WITH(options.resolve({"hiden=3"}, "model m"), Catch::Contains("valid keys: attention, depths, dropout, hidden"));
  CHECK_THROWS_AS(options.resolve({"hidden=big"}, "model m"), UsageError);
  CHECK_THROWS_AS(options.resolve({"hidden"}, "model m"), UsageError);
  CHECK_THROWS_AS(options.resolve({"tied=maybe"}, "model m"), UsageError);
  // Ranges and allowed words, named in the message.
  CHECK_THROWS_WITH(options.resolve({"hidden=0"}, "model m"), Catch::Contains("invalid hidden 0: expected an integer 1 or more"));
  CHECK_THROWS_WITH(options.resolve({"dropout=1"}, "model m"), Catch::Contains("invalid dropout 1.0: expected a number in [0, 1)"));
  CHECK_THROWS_WITH(options.resolve({"dropout=nan"}, "model m"), Catch::Contains("invalid dropout"));
  CHECK_THROWS_WITH(options.resolve({"attention=magic"}, "model m"), Catch::Contains("invalid attention 'magic': expected bahdanau or luong"));
  CHECK_THROWS_WITH(options.resolve({"depths=2,0"}, "model m"), Catch::Contains("invalid depths"));
  CHECK_THROWS_WITH(options.resolve({"depths=2,1.5"}, "model m"), Catch::Contains("invalid depths"));
  // A rule across options.
  CHECK_THROWS_WITH(options.resolve({"tied=true"}, "model m"), Catch::Contains("tied needs hidden 256, not 128"));
  CHECK(options.resolve({"tied=true", "hidden=256"}, "model m")["tied"] == true);
  // Typed values (a checkpoint's): checked the same way; an integral float is an integer.
  CHECK(options.resolve({}, "model m", Json{{"hidden", 64.0}})["hidden"].is_number_integer());
  CHECK_THROWS_AS(options.resolve({}, "model m", Json{{"hidden", "64"}}), UsageError);
  CHECK_THROWS_AS(options.resolve({}, "model m", Json{{"nope", 1}}), UsageError);
  // read fills the struct; the declared defaults are the struct's.
  const ExampleConfig read = ExampleConfig::options().read(out, ExampleConfig{});
  CHECK(read.hidden == 512);
  CHECK(read.depths == std::vector<int64_t>{2, 2, 6});
  CHECK(ExampleConfig::options().infos(ExampleConfig{}).at(0).default_value == 256);
}

TEST_CASE("Options checks types and names the key", "[core]") {
  Options o(Json{{"epochs", "3"}, {"lr", 0.5}, {"bad", "x"}, {"flag", true}});
  CHECK(o.get_int("epochs") == 3);
  CHECK(o.get_double("lr") == 0.5);
  CHECK(o.get_bool("flag"));
  CHECK_THROWS_WITH(o.get_int("bad"), Catch::Contains("'bad'"));
  CHECK_THROWS_AS(o.get_int("missing"), UsageError);
}

TEST_CASE("the registry knows every classifier and rejects unknown names", "[core]") {
  const auto& models = registry();
  // 16 CNNs, 3 ResNets with self-attention, 11 ViT/DeiT and 2 for 32x32 images, 3 Swin and 1 for
  // 32x32, 4 PVT and 1 for 32x32.
  CHECK(models.models("classify").size() == 41);
  CHECK(models.model("resnet50").params == 25557032);
  CHECK_THROWS_WITH(models.model("resnet9000"), Catch::Contains("unknown model 'resnet9000'"));
  CHECK_THROWS_AS(task_spec("classification"), UsageError);
  CHECK(models.models("translate").size() == 4);
  CHECK(models.models("lm").size() == 3);
  CHECK(create_task("mlm")->name() == "mlm");
  CHECK(models.models("mlm").size() == 4);  // bert_tiny, bert_mini, bert_small, bert_base
  CHECK(create_task("text_classify")->name() == "text_classify");
  CHECK(create_task("ocr")->name() == "ocr");
  CHECK(models.models("ocr").size() == 3);  // crnn, ctc_transformer, attention_ocr
  CHECK(create_task("clip")->name() == "clip");
  CHECK(models.models("clip").size() == 5);
  CHECK(create_task("detect")->name() == "detect");
  CHECK(models.models("detect").size() == 4);
  CHECK(create_task("video")->name() == "video");
  CHECK(models.models("video").size() == 6);  // timesformer_base, timesformer_small, cnn_lstm, mvit_v1_b, mvit_v2_s, r2plus1d_18
  CHECK(create_task("lm")->name() == "lm");
  CHECK(create_task("translate")->name() == "translate");
  CHECK(create_task("classify")->name() == "classify");
}

TEST_CASE("devices parse and CUDA where there is none is a usage error", "[core]") {
  CHECK(parse_device("cpu").is_cpu());
  CHECK_THROWS_AS(parse_device("tpu"), UsageError);
  CHECK_THROWS_AS(parse_device("cuda:x"), UsageError);
  if (!torch::cuda::is_available()) {
    CHECK(parse_device("auto").is_cpu());
    CHECK_THROWS_WITH(parse_device("cuda"), Catch::Contains("not available"));
  } else {
    CHECK(parse_device("cuda:0").is_cuda());
    CHECK_THROWS_AS(parse_device("cuda:99"), UsageError);
  }
}

TEST_CASE("Rng is deterministic and uniform draws stay in range", "[core]") {
  Rng a(9), b(9);
  for (int i = 0; i < 1000; ++i) {
    const double u = a.uniform(2.0, 3.0);
    REQUIRE(u == b.uniform(2.0, 3.0));
    REQUIRE(u >= 2.0);
    REQUIRE(u < 3.0);
    const int64_t k = a.randint(0, 5);
    b.randint(0, 5);
    REQUIRE(k >= 0);
    REQUIRE(k < 5);
  }
  CHECK(mix_seed(1, 2, 3) != mix_seed(1, 3, 2));
}

TEST_CASE("a checkpoint round-trips meta, weights and optimizer state atomically", "[core]") {
  const fs::path dir = fs::temp_directory_path() / ("zoo-ckpt-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "a.ckpt").string();
  torch::manual_seed(0);
  torch::nn::Sequential model(torch::nn::Linear(4, 3), torch::nn::BatchNorm1d(3));
  torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  auto loss = model->forward(torch::randn({8, 4})).pow(2).sum();
  loss.backward();
  sgd.step();  // creates momentum buffers
  Json meta = {{"task", "classify"}, {"model", "tiny"}, {"classes", {"a", "b", "c"}}};
  save_checkpoint(path, {meta, state_dict(*model), &sgd, true});
  for (const auto& entry : fs::directory_iterator(dir)) CHECK(entry.path().filename() == "a.ckpt");  // no temporary left

  CheckpointReader reader(path);
  CHECK(reader.meta() == meta);
  CHECK(reader.has_training_state());
  torch::nn::Sequential other(torch::nn::Linear(4, 3), torch::nn::BatchNorm1d(3));
  load_state_dict(*other, reader.weights(), path);
  for (const auto& [name, tensor] : state_dict(*model)) CHECK(torch::equal(tensor, state_dict(*other).at(name)));
  torch::optim::SGD restored(other->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  reader.load_optimizer(restored);
  // Same state: one more identical step gives identical weights.
  auto x = torch::randn({8, 4});
  for (auto* pair : {&model, &other}) {
    auto* opt = pair == &model ? &sgd : &restored;
    opt->zero_grad();
    (*pair)->forward(x).pow(2).sum().backward();
    opt->step();
  }
  CHECK(torch::allclose(model[0]->as<torch::nn::Linear>()->weight, other[0]->as<torch::nn::Linear>()->weight));

  // Wrong shapes and missing tensors are named.
  torch::nn::Sequential wrong(torch::nn::Linear(5, 3), torch::nn::BatchNorm1d(3));
  CHECK_THROWS_WITH(load_state_dict(*wrong, reader.weights(), path), Catch::Contains("'0.weight' has shape [3, 4]"));
  auto partial = reader.weights();
  partial.erase("1.running_mean");
  CHECK_THROWS_WITH(load_state_dict(*other, partial, path), Catch::Contains("missing tensor '1.running_mean'"));
  auto extra = reader.weights();
  extra["2.weight"] = torch::zeros({1});
  CHECK_THROWS_WITH(load_state_dict(*other, extra, path), Catch::Contains("unexpected tensor '2.weight'"));
  // A head of another size may be skipped when asked.
  torch::nn::Sequential new_head(torch::nn::Linear(4, 3), torch::nn::BatchNorm1d(3));
  auto reshaped = reader.weights();
  reshaped["1.weight"] = torch::zeros({7});
  CHECK(load_state_dict(*new_head, reshaped, path, {"1."}) == std::vector<std::string>{"1.weight"});

  // A truncated file is a clear error, not a crash.
  const std::string corrupt = (dir / "corrupt.ckpt").string();
  {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(corrupt, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  CHECK_THROWS_AS(CheckpointReader(corrupt), Error);
  CHECK_THROWS_WITH(CheckpointReader((dir / "none.ckpt").string()), Catch::Contains("none.ckpt"));
  fs::remove_all(dir);
}

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

}  // namespace

TEST_CASE("a sealed checkpoint detects any damaged byte, a newer format and a full disk", "[core]") {
  const fs::path dir = fs::temp_directory_path() / ("zoo-seal-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "a.ckpt").string(), damaged = (dir / "damaged.ckpt").string();
  torch::manual_seed(0);
  torch::nn::Linear model(16, 8);
  save_checkpoint(path, {{{"task", "classify"}, {"model", "tiny"}}, state_dict(*model), nullptr, false});
  const std::string bytes = read_bytes(path);
  const auto seal_at = bytes.rfind("zoo-checkpoint 2 crc32 ");
  REQUIRE(seal_at != std::string::npos);
  CHECK(seal_at + 31 == bytes.size());  // the seal is the file's last bytes: prefix + 8 hex digits
  CHECK(zip_damage(path).empty());
  CHECK(CheckpointReader(path).meta().at("model") == "tiny");

  // One flipped bit anywhere before the seal: in a zip header, in tensor data, in the end record.
  for (size_t at : {size_t{10}, bytes.size() / 2, seal_at - 5}) {
    std::string copy = bytes;
    copy[at] = static_cast<char>(copy[at] ^ 0x01);
    write_bytes(damaged, copy);
    INFO("flipped a bit of byte " << at);
    // In the end record the structural check may speak first; elsewhere only the CRC can tell.
    if (at < seal_at - 22) CHECK_THROWS_WITH(CheckpointReader(damaged), Catch::Contains("damaged.ckpt: its CRC-32 is") && Catch::Contains("the file is damaged"));
    else CHECK_THROWS_WITH(CheckpointReader(damaged), Catch::Contains("damaged.ckpt"));
  }
  // Cut short anywhere.
  for (size_t keep : {size_t{0}, size_t{100}, bytes.size() / 2, bytes.size() - 1}) {
    write_bytes(damaged, bytes.substr(0, keep));
    INFO("kept " << keep << " bytes");
    CHECK_THROWS_AS(CheckpointReader(damaged), Error);
  }
  // A format from the future is refused by name, before LibTorch reads anything.
  std::string newer = bytes;
  newer[seal_at + 15] = '7';
  write_bytes(damaged, newer);
  CHECK_THROWS_WITH(CheckpointReader(damaged), Catch::Contains("newer zoo (checkpoint format 7; this build reads formats up to 2)"));

  // A write that fails (here: a file-size limit, as a full disk) is an Error naming the file and
  // leaves the previous checkpoint as it was, with no temporary file beside it.
  auto* previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit old_limit {};
  ::getrlimit(RLIMIT_FSIZE, &old_limit);
  struct rlimit small = old_limit;
  small.rlim_cur = bytes.size() / 2;
  ::setrlimit(RLIMIT_FSIZE, &small);
  torch::nn::Linear other(16, 8);
  CHECK_THROWS_WITH(save_checkpoint(path, {{{"task", "classify"}, {"model", "tiny"}}, state_dict(*other), nullptr, false}),
                    Catch::Contains("cannot write " + path + ": File too large"));
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, previous_handler);
  CHECK(read_bytes(path) == bytes);
  fs::remove(damaged);
  for (const auto& entry : fs::directory_iterator(dir)) CHECK(entry.path().filename() == "a.ckpt");
  fs::remove_all(dir);
}

TEST_CASE("link_atomically and remove_stale_temporaries", "[core]") {
  const fs::path dir = fs::temp_directory_path() / ("zoo-link-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write_bytes((dir / "step-1.ckpt").string(), "one");
  write_bytes((dir / "last.ckpt").string(), "old");
  link_atomically((dir / "step-1.ckpt").string(), (dir / "last.ckpt").string());
  CHECK(read_bytes((dir / "last.ckpt").string()) == "one");
  CHECK(fs::equivalent(dir / "step-1.ckpt", dir / "last.ckpt"));
  // Again, when last.ckpt already is step-1.ckpt: rename(2) between two links of one file does
  // nothing, and the temporary link must not stay behind.
  link_atomically((dir / "step-1.ckpt").string(), (dir / "last.ckpt").string());
  CHECK(fs::equivalent(dir / "step-1.ckpt", dir / "last.ckpt"));
  CHECK_FALSE(fs::exists(dir / ("last.ckpt.tmp." + std::to_string(::getpid()))));
  // A temporary file of a process that is gone goes; one of a living process (this one) stays.
  write_bytes((dir / "a.ckpt.tmp.2147483646").string(), "torn");
  const std::string own = "b.ckpt.tmp." + std::to_string(::getpid());
  write_bytes((dir / own).string(), "being written");
  // pid 1 lives and started before this file was written: it could be its writer.
  write_bytes((dir / "c.ckpt.tmp.1").string(), "init's");
  remove_stale_temporaries(dir.string());
  CHECK_FALSE(fs::exists(dir / "a.ckpt.tmp.2147483646"));
  CHECK(fs::exists(dir / own));
  CHECK(fs::exists(dir / "c.ckpt.tmp.1"));
  fs::remove_all(dir);
}

TEST_CASE("learning-rate schedules", "[train]") {
  ScheduleConfig s;
  s.lr = 1.0;
  s.total_steps = 100;
  s.name = "none";
  CHECK(lr_at(s, 50) == 1.0);
  s.name = "cosine";
  CHECK(lr_at(s, 0) == Approx(1.0));
  CHECK(lr_at(s, 50) == Approx(0.5));
  CHECK(lr_at(s, 100) == Approx(0.0).margin(1e-12));
  s.min_lr = 0.1;
  CHECK(lr_at(s, 100) == Approx(0.1));
  s.warmup_steps = 10;
  CHECK(lr_at(s, 0) == Approx(0.1));  // (0 + 1) / 10 of the peak
  CHECK(lr_at(s, 9) == Approx(1.0));
  s = ScheduleConfig{};
  s.name = "step";
  s.lr = 1.0;
  s.steps_per_epoch = 10;
  s.decay_epochs = 2;
  s.decay_rate = 0.5;
  CHECK(lr_at(s, 19) == Approx(1.0));
  CHECK(lr_at(s, 20) == Approx(0.5));
  CHECK(lr_at(s, 45) == Approx(0.25));
  s.name = "noam";
  s.warmup_steps = 100;
  CHECK(lr_at(s, 99) == Approx(1.0));           // the peak at t = warmup
  CHECK(lr_at(s, 399) == Approx(0.5));          // then 1/sqrt(t / warmup)
  CHECK(lr_at(s, 49) == Approx(0.5));           // linear rise
  s.name = "linear";
  CHECK_THROWS_AS(lr_at(s, 0), UsageError);
}

TEST_CASE("optimizers are built by name", "[train]") {
  torch::nn::Linear layer(2, 2);
  OptimizerConfig c;
  for (const char* name : {"sgd", "adam", "adamw"}) {
    c.name = name;
    c.lr = 0.01;
    auto opt = make_optimizer(layer->parameters(), c);
    set_lr(*opt, 0.5);
    CHECK(opt->param_groups()[0].options().get_lr() == 0.5);
  }
  c.name = "lion";
  CHECK_THROWS_AS(make_optimizer(layer->parameters(), c), UsageError);
}

}  // namespace test_core
