// Captioning: the COCO caption metrics on fixtures worked out by hand, the caption readers on
// real and hand-made files (and their errors), synth:scenes, and the captioners' properties the
// task relies on (attention is a distribution, beam 1 is greedy, a batch decodes as its images alone).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "data/captions.h"
#include "data/image.h"
#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/nn/search.h"
#include "lib/tasks/builtin.h"
#include "lib/text/caption_metrics.h"
#include "models/caption/show_attend_tell.h"
#include "models/caption/show_attend_tell_hard.h"
#include "models/caption/show_tell.h"

namespace test_caption {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;
namespace fs = std::filesystem;

namespace {

std::string shared_data() {
  const char* env = std::getenv("ZOO_SHARED_DATA");
  return env ? env : ZOO_SHARED_DATA_DIR;
}

fs::path temp_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("zoo_caption_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

void write_png(const fs::path& path, const cv::Mat& image) {
  fs::create_directories(path.parent_path());
  data::write_image(path.string(), image);
}

// The message of the Error `fn` throws ("" when it throws none).
template <class F>
std::string error_of(F fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// --- metrics ---------------------------------------------------------------------------------

TEST_CASE("coco_tokenize: lower-case, punctuation split off and dropped as PTBTokenizer + pycocoevalcap do", "[caption][metrics]") {
  CHECK(text::coco_tokenize("A man with a red helmet on a small moped on a dirt road. ") ==
        "a man with a red helmet on a small moped on a dirt road");
  CHECK(text::coco_tokenize("The dog's ball, isn't it?") == "the dog 's ball is n't it");
  CHECK(text::coco_tokenize("\"Hello\" (world) -- 3.5 lbs; 1,000 cats!") == "hello world 3.5 lbs 1,000 cats");
  CHECK(text::coco_tokenize("A T-shirt in the U.S.") == "a t-shirt in the u.s.");
  CHECK(text::coco_tokenize("I can't, you cannot") == "i ca n't you can not");
  CHECK(text::coco_tokenize("Two dogs' bowls...") == "two dogs bowls");
  CHECK(text::coco_tokenize("  ") == "");
}

TEST_CASE("coco_bleu: corpus BLEU-1..4 with the closest reference length, worked by hand", "[caption][metrics]") {
  // Hypothesis 6 words; its 1- and 2-grams all in a reference, 3 of 4 trigrams (a cat sits, cat
  // sits on, on the mat), 1 of 3 4-grams (a cat sits on); reference length 6: no brevity penalty.
  auto bleu = text::coco_bleu({{"a cat sits on the mat", {"a cat sits on a mat", "the cat is on the mat"}}});
  CHECK(bleu[0] == Approx(1.0).epsilon(1e-9));
  CHECK(bleu[1] == Approx(1.0).epsilon(1e-9));
  CHECK(bleu[2] == Approx(std::pow(0.75, 1.0 / 3)).epsilon(1e-9));  // 0.9086
  CHECK(bleu[3] == Approx(std::pow(0.75 / 3, 0.25)).epsilon(1e-9));  // 0.7071

  // Two words against references of 3 and 6: r = 3, BP = exp(1 - 3/2); no trigram to guess, so
  // p3 = (0 + 1e-15) / (0 + 1e-9) = 1e-6, pycocoevalcap's smoothing.
  bleu = text::coco_bleu({{"a cat", {"a cat sat", "a cat is on the mat"}}});
  const double bp = std::exp(-0.5);
  CHECK(bleu[0] == Approx(bp).epsilon(1e-6));
  CHECK(bleu[1] == Approx(bp).epsilon(1e-6));
  CHECK(bleu[2] == Approx(0.01 * bp).epsilon(1e-6));
  CHECK(bleu[3] == Approx(1e-3 * bp).epsilon(1e-6));

  // Four words, references of 3 and 5 equally close: the shorter counts, so no penalty.
  CHECK(text::coco_bleu({{"a b c d", {"a b c", "a b c d e"}}})[0] == Approx(1.0).epsilon(1e-9));
  // Counts are summed over images before the ratio: 1 of 2 unigrams right, then 2 of 2.
  bleu = text::coco_bleu({{"x y", {"x z"}}, {"p q", {"p q"}}});
  CHECK(bleu[0] == Approx(0.75).epsilon(1e-9));
}

TEST_CASE("coco_cider: CIDEr-D with document frequencies from the references, worked by hand", "[caption][metrics]") {
  // Two images, so log(|images|) = log 2, and every reference n-gram has df 1, weight log 2.
  // Image 1, "a b" against "a b": unigram and bigram cosines 1, 3- and 4-grams empty (0):
  //   10 * mean(1, 1, 0, 0) = 5.
  // Image 2, "c d" against "c e": "d" and "c d" are in no reference (df 0 -> log max(1, 0) = 0,
  // weight log 2), unigram: min(g_c, g_c) g_c / (sqrt2 log2)^2 = 1/2, bigram 0: 10 * 0.5 / 4 = 1.25.
  std::vector<double> per_image;
  const double cider = text::coco_cider({{"a b", {"a b"}}, {"c d", {"c e"}}}, &per_image);
  REQUIRE(per_image.size() == 2);
  CHECK(per_image[0] == Approx(5.0).epsilon(1e-9));
  CHECK(per_image[1] == Approx(1.25).epsilon(1e-9));
  CHECK(cider == Approx(3.125).epsilon(1e-9));
  // CIDEr-D's length penalty: "a b c" against "a b c" and "a b" differ by one bigram:
  // exp(-1 / 72) on the second reference's terms. With one image log 1 = 0 and every weight 0.
  CHECK(text::coco_cider({{"a b c", {"a b c"}}}) == 0.0);
  // Repeating a reference word does not pay (clipping): "a a" scores below "a b".
  const double repeated = text::coco_cider({{"a a", {"a b"}}, {"c", {"d"}}}), right = text::coco_cider({{"a b", {"a b"}}, {"c", {"d"}}});
  CHECK(repeated < right);
}

TEST_CASE("coco_rouge_l: LCS precision and recall maximised over references, F with beta 1.2", "[caption][metrics]") {
  // "a b c d" vs "a c d": LCS 3, P 3/4, R 1; vs "b d e f g": LCS 2, P 1/2, R 2/5.
  // P = 0.75, R = 1: F = 2.44 * 0.75 / (1 + 1.44 * 0.75) = 1.83 / 2.08.
  CHECK(text::coco_rouge_l({{"a b c d", {"a c d", "b d e f g"}}}) == Approx(1.83 / 2.08).epsilon(1e-9));
  CHECK(text::coco_rouge_l({{"x", {"y"}}}) == 0.0);
  const auto scores = text::coco_caption_scores({{"a b", {"a b"}}, {"c d", {"c e"}}});
  for (const char* key : {"bleu_1", "bleu_2", "bleu_3", "bleu_4", "cider", "rouge_l"}) CHECK(scores.count(key) == 1);
}

// --- data ------------------------------------------------------------------------------------

TEST_CASE("the COCO captions reader takes tiny_coco's 50 images and 250 captions, val held out", "[caption][data]") {
  const std::string root = shared_data() + "/tiny_coco";
  const auto train = data::load_caption_split(root, "train", 0.1), val = data::load_caption_split(root, "val", 0.1);
  CHECK(train.size() == 45);
  CHECK(val.size() == 5);
  CHECK(train.caption_count() + val.caption_count() == 250);
  std::set<int64_t> ids;
  for (const auto& set : {train, val})
    for (const auto& image : set.images) {
      CHECK(image.captions.size() == 5);
      CHECK(fs::exists(image.file));
      ids.insert(image.image_id);
    }
  CHECK(ids.size() == 50);  // disjoint splits
  CHECK(ids.count(391895) == 1);
  // Boxes come from instances_train2017.json beside the captions.
  int64_t boxes = 0;
  for (const auto& image : train.images) boxes += static_cast<int64_t>(image.objects.size());
  CHECK(boxes > 0);
  const cv::Mat first = train.image(0);
  CHECK(first.channels() == 3);
}

TEST_CASE("Karpathy-split JSON and Flickr8k token files", "[caption][data]") {
  const fs::path dir = temp_dir("formats");
  const cv::Mat pixel(4, 4, CV_8UC3, cv::Scalar(10, 20, 30));
  write_png(dir / "val2014" / "a.jpg", pixel);
  write_png(dir / "train2014" / "b.jpg", pixel);
  write_png(dir / "train2014" / "c.jpg", pixel);
  write_file(dir / "dataset_coco.json", R"({"images": [
      {"split": "test", "filepath": "val2014", "filename": "a.jpg", "cocoid": 7, "sentences": [{"raw": "A cat."}, {"raw": "A kitten."}]},
      {"split": "restval", "filepath": "train2014", "filename": "b.jpg", "cocoid": 8, "sentences": [{"raw": "A dog."}]},
      {"split": "train", "filepath": "train2014", "filename": "c.jpg", "cocoid": 9, "sentences": [{"raw": "A bird."}]}]})");
  auto train = data::load_caption_split(dir.string(), "train", 0.1);
  REQUIRE(train.size() == 2);  // restval counts as train
  CHECK(train.images[0].image_id == 8);
  auto test = data::load_caption_split((dir / "dataset_coco.json").string(), "test", 0.1);
  REQUIRE(test.size() == 1);
  CHECK(test.images[0].captions == std::vector<std::string>{"A cat.", "A kitten."});
  // A split with no image is an error naming it.
  CHECK(error_of([&] { data::load_caption_split((dir / "dataset_coco.json").string(), "val", 0.1); }).find("no image in split 'val'") !=
        std::string::npos);

  const fs::path flickr = temp_dir("flickr");
  for (const char* name : {"1.jpg", "2.jpg", "3.jpg"}) write_png(flickr / "Flicker8k_Dataset" / name, pixel);
  write_file(flickr / "Flickr8k.token.txt", "1.jpg#0\tA child in pink.\n1.jpg#1\tA girl.\n2.jpg#0\tA dog runs.\n3.jpg#0\tTwo men.\n");
  write_file(flickr / "Flickr_8k.trainImages.txt", "1.jpg\n3.jpg\n");
  write_file(flickr / "Flickr_8k.devImages.txt", "2.jpg\n");
  write_file(flickr / "Flickr_8k.testImages.txt", "2.jpg\n");
  auto f_train = data::load_caption_split(flickr.string(), "train", 0.1);
  REQUIRE(f_train.size() == 2);
  CHECK(f_train.images[0].captions.size() == 2);
  CHECK(data::load_caption_split(flickr.string(), "val", 0.1).images.at(0).captions.at(0) == "A dog runs.");
  fs::remove_all(dir);
  fs::remove_all(flickr);
}

TEST_CASE("bad caption data is one Error naming the file and the entry", "[caption][data]") {
  const fs::path dir = temp_dir("bad");
  const cv::Mat pixel(4, 4, CV_8UC3, cv::Scalar(0, 0, 0));
  write_png(dir / "train2017" / "1.jpg", pixel);
  write_png(dir / "train2017" / "2.jpg", pixel);
  const fs::path ann = dir / "annotations" / "captions_train2017.json";
  const std::string images = R"("images": [{"id": 1, "file_name": "1.jpg"}, {"id": 2, "file_name": "2.jpg"}])";
  write_file(ann, "{" + images + R"(, "annotations": [{"image_id": 1, "caption": "a"}, {"image_id": 5, "caption": "b"}]})");
  CHECK(error_of([&] { data::load_caption_split(dir.string(), "train", 0.5); }).find("annotations[1] refers to image_id 5") != std::string::npos);
  write_file(ann, "{" + images + R"(, "annotations": [{"image_id": 1, "caption": "a"}, {"image_id": 2, "caption": "  "}]})");
  CHECK(error_of([&] { data::load_caption_split(dir.string(), "train", 0.5); }).find("annotations[1] (image 2) has an empty caption") !=
        std::string::npos);
  write_file(ann, "{" + images + R"(, "annotations": [{"image_id": 1, "caption": 3}]})");
  CHECK(error_of([&] { data::load_caption_split(dir.string(), "train", 0.5); }).find("\"caption\" has the wrong type") != std::string::npos);
  write_file(ann, "{\"images\": [");
  CHECK(error_of([&] { data::load_caption_split(dir.string(), "train", 0.5); }).find("is not valid JSON") != std::string::npos);
  write_file(ann, "{" + images + R"(, "annotations": [{"image_id": 1, "caption": "a"}, {"image_id": 2, "caption": "b"}]})");
  fs::remove(dir / "train2017" / "2.jpg");
  const std::string missing = error_of([&] { data::load_caption_split(dir.string(), "train", 0.5); }) +
                              error_of([&] { data::load_caption_split(dir.string(), "val", 0.5); });
  CHECK(missing.find("image file not found: " + (dir / "train2017" / "2.jpg").string()) != std::string::npos);
  // Results files: an id twice, a missing key.
  write_file(dir / "r.json", R"([{"image_id": 1, "caption": "a"}, {"image_id": 1, "caption": "b"}])");
  CHECK(error_of([&] { data::read_caption_results((dir / "r.json").string()); }).find("image_id 1 has a second caption") != std::string::npos);
  write_file(dir / "r.json", R"([{"image_id": 1}])");
  CHECK(error_of([&] { data::read_caption_results((dir / "r.json").string()); }).find("has no \"caption\"") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("synth:scenes: deterministic scenes whose captions name every shape, boxes on the shapes", "[caption][data]") {
  const auto a = data::synth_scenes_split(40, 64, 3, "train"), b = data::synth_scenes_split(40, 64, 3, "train");
  const auto val = data::synth_scenes_split(40, 64, 3, "val");
  CHECK(val.size() == 64);
  std::set<size_t> counts;
  for (int64_t i = 0; i < a.size(); ++i) {
    const auto& scene = a.images[static_cast<size_t>(i)];
    REQUIRE(scene.captions.size() == 5);
    CHECK(scene.captions == b.images[static_cast<size_t>(i)].captions);
    REQUIRE(!scene.objects.empty());
    counts.insert(scene.objects.size());
    const cv::Mat image = a.image(i);
    CHECK(cv::norm(image, b.image(i)) == 0);
    for (const auto& object : scene.objects) {
      for (const auto& caption : scene.captions) CHECK(caption.find(object.name) != std::string::npos);
      const auto& box = object.box;
      CHECK(box[0] >= 0);
      CHECK(box[1] >= 0);
      CHECK(box[0] + box[2] <= 64);
      CHECK(box[1] + box[3] <= 64);
      // The box's centre pixel is the shape's colour, bright against the dark background.
      const cv::Vec3b centre = image.at<cv::Vec3b>(static_cast<int>(box[1] + box[3] / 2), static_cast<int>(box[0] + box[2] / 2));
      CHECK(std::max({centre[0], centre[1], centre[2]}) > 150);
    }
  }
  CHECK(counts == std::set<size_t>{1, 2, 3});
}

// --- models ----------------------------------------------------------------------------------

namespace {

Json tiny_options(const std::string& model) {
  Json o = registry().model(model).defaults();
  o["encoder"] = "resnet18", o["encoder_stage"] = 2, o["encoder_grid"] = 0, o["input_size"] = 32, o["vocab"] = 17;
  o["embed"] = 12, o["hidden"] = 16, o["dropout"] = 0.0;
  if (o.contains("attention")) o["attention"] = 10;
  if (o.contains("expected_share")) o["expected_share"] = 0.0;  // every image samples: the REINFORCE path
  return o;
}

std::shared_ptr<models::CaptionModel> tiny(const std::string& model) {
  torch::manual_seed(3);
  auto m = std::dynamic_pointer_cast<models::CaptionModel>(registry().create_model(model, tiny_options(model)));
  m->eval();
  return m;
}

}  // namespace

TEST_CASE("soft attention is a distribution over the 4x4 locations at every step, the penalty counts it", "[caption][models]") {
  auto model = tiny("show_attend_tell");
  auto images = torch::randn({3, 3, 32, 32});
  auto tokens_in = torch::tensor({{2, 5, 6, 7}, {2, 8, 9, 0}, {2, 4, 0, 0}}, torch::kInt64);
  auto out = model->forward(images, tokens_in);
  CHECK(out.logits.sizes() == torch::IntArrayRef({3, 4, 17}));
  REQUIRE(out.attention.sizes() == torch::IntArrayRef({3, 4, 16}));  // 32 px / 8 = 4x4 after layer2
  CHECK(torch::allclose(out.attention.sum(2), torch::ones({3, 4}), 1e-5, 1e-6));
  CHECK(out.attention.min().item<double>() > 0);
  // decode_step reports the same attention as the teacher-forced pass at step 0.
  auto step = model->decode_step(tokens_in.select(1, 0), model->encode(images));
  CHECK(torch::allclose(step.attention, out.attention.select(1, 0), 1e-5, 1e-6));
  CHECK(torch::allclose(step.log_probs.exp().sum(1), torch::ones({3}), 1e-5, 1e-6));
  // The loss is the cross-entropy plus lambda sum_i (1 - sum_t alpha_ti)^2 over real steps, per word.
  auto tokens_out = torch::tensor({{5, 6, 7, 3}, {8, 9, 3, 0}, {4, 3, 0, 0}}, torch::kInt64);
  auto [ce, count] = models::caption_cross_entropy(out.logits, tokens_out, 0.0);
  auto mask = tokens_out.ne(0).unsqueeze(2).to(torch::kFloat32);
  auto penalty = (1 - (out.attention * mask).sum(1)).pow(2).sum();
  CHECK(model->loss(images, tokens_in, tokens_out, 0.0).item<double>() == Approx(((ce + penalty) / count).item<double>()).epsilon(1e-5));
}

TEST_CASE("soft attention's teacher-forced gradients (keys and annotations gathered once) equal step-by-step ones", "[caption][models]") {
  // teacher_forced() forms the annotations', their projection's and the recurrent weights'
  // gradients once for all steps (StepValues, StepKeys, StepProduct); decode_step() one step at a
  // time through plain autograd. The images take a gradient too, so the annotations need one.
  auto model = tiny("show_attend_tell");
  const auto images0 = torch::randn({3, 3, 32, 32});
  auto tokens_in = torch::tensor({{2, 5, 6, 7}, {2, 8, 9, 0}, {2, 4, 0, 0}}, torch::kInt64);
  const auto upstream = torch::randn({3, 4, 17});
  auto gradients = [&](bool whole_caption) {
    model->zero_grad();
    auto images = images0.clone().set_requires_grad(true);
    torch::Tensor log_probs;
    if (whole_caption) {
      log_probs = torch::log_softmax(model->forward(images, tokens_in).logits, 2);
    } else {
      auto state = model->encode(images);
      std::vector<torch::Tensor> steps;
      for (int64_t t = 0; t < 4; ++t) {
        auto step = model->decode_step(tokens_in.select(1, t), state);
        steps.push_back(step.log_probs), state = step.state;
      }
      log_probs = torch::stack(steps, 1);
    }
    (log_probs * upstream).sum().backward();
    std::map<std::string, torch::Tensor> out{{"images", images.grad().clone()}};
    for (const auto& p : model->named_parameters())
      if (p.value().grad().defined()) out[p.key()] = p.value().grad().clone();
    return out;
  };
  const auto whole = gradients(true), stepwise = gradients(false);
  CHECK(whole.size() == stepwise.size());
  CHECK(whole.size() > 10);
  for (const auto& [name, grad] : whole) {
    CAPTURE(name);
    CHECK(grad.abs().sum().item<float>() > 0);
    CHECK(torch::allclose(grad, stepwise.at(name), 1e-4, 1e-5));
  }
}

TEST_CASE("caption search: beam 1 is greedy, and a batch decodes as each image alone", "[caption][models]") {
  for (const std::string name : {"show_tell", "show_attend_tell"}) {
    CAPTURE(name);
    auto model = tiny(name);
    torch::NoGradGuard no_grad;
    auto images = torch::randn({3, 3, 32, 32});
    const nn::StepFunction step = [&](const torch::Tensor& t, const std::vector<torch::Tensor>& s) { return model->decode_step(t, s); };
    nn::SearchOptions options;
    options.max_len_ratio = 1.0, options.max_len_extra = 1;
    const std::vector<int64_t> limits{6, 6, 6};
    auto greedy = nn::greedy_search(step, model->encode(images), limits, options);
    options.beam = 1;
    auto beam1 = nn::beam_search(step, model->encode(images), limits, options);
    options.beam = 3;
    auto beam3 = nn::beam_search(step, model->encode(images), limits, options);
    for (int64_t b = 0; b < 3; ++b) {
      CHECK(greedy[b].tokens == beam1[b].tokens);
      CHECK(greedy[b].log_prob == Approx(beam1[b].log_prob).epsilon(1e-5));
      auto alone = nn::beam_search(step, model->encode(images.narrow(0, b, 1)), {6}, options);
      CHECK(alone[0].tokens == beam3[b].tokens);
      CHECK(alone[0].score == Approx(beam3[b].score).epsilon(1e-4));
    }
  }
}

TEST_CASE("captioners cut their trunk: no classifier head, layers after the cut gone", "[caption][models]") {
  auto model = tiny("show_tell");
  std::set<std::string> names;
  for (const auto& p : model->named_parameters()) names.insert(p.key());
  CHECK(names.count("encoder.conv1.weight") == 1);
  CHECK(names.count("encoder.layer2.0.conv1.weight") == 1);
  for (const auto& name : names) {
    CHECK(name.rfind("encoder.fc.", 0) != 0);
    CHECK(name.rfind("encoder.layer3.", 0) != 0);
  }
  // The registry's counts hold at the defaults (ResNet-101 trunk, 10,000 words).
  for (const char* name : {"show_tell", "show_attend_tell", "show_attend_tell_hard"}) {
    CAPTURE(name);
    CHECK(count_parameters(*registry().create_model(name, Json::object())) == registry().model(name).params);
  }
  // A bad stage for the trunk is a usage error before anything is built.
  Json options = Json::object();
  options["encoder"] = "vgg16", options["encoder_stage"] = 4;
  CHECK_THROWS_AS(registry().create_model("show_tell", options), UsageError);
}

TEST_CASE("annotation grids: a multiple of the map replicates cells exactly as adaptive pooling does", "[caption][models]") {
  // 32 px through layer2 gives a 4x4 map: grid 8 and 12 replicate, grid 6 pools; grid 0 keeps
  // the map itself, the reference. The same seed builds the same trunk each time.
  auto annotations = [](int64_t grid, const torch::Tensor& images) {
    Json o = tiny_options("show_tell");
    o["encoder_grid"] = grid;
    torch::manual_seed(3);
    auto model = std::dynamic_pointer_cast<models::CaptionModel>(registry().create_model("show_tell", o));
    model->eval();
    torch::NoGradGuard no_grad;
    return model->annotations(images);
  };
  auto images = torch::randn({2, 3, 32, 32});
  auto map = annotations(0, images).transpose(1, 2).reshape({2, -1, 4, 4});  // (2, 128, 4, 4)
  for (int64_t grid : {8, 12, 6}) {
    CAPTURE(grid);
    auto expected = torch::adaptive_avg_pool2d(map, {grid, grid}).flatten(2).transpose(1, 2);
    auto got = annotations(grid, images);
    REQUIRE(got.sizes() == expected.sizes());
    CHECK(got.is_contiguous());
    CHECK(torch::equal(got, expected.contiguous()));
  }
}

TEST_CASE("REINFORCE: the surrogate's gradient is, in expectation over sampled locations, the exact gradient of -E[log p(y|s)]",
          "[caption][models]") {
  // A tiny case worked exactly: 4 locations with alpha = softmax(theta), and a log-likelihood per
  // location that depends on other weights w: log p(y|s) = -(w_s - 1)^2 - 0.5 s. The exact
  // objective E_{s~alpha}[log p(y|s)] = sum_s alpha_s log p(y|s); its gradient against the mean
  // gradient of the surrogate over 400,000 sampled locations, with a baseline (any constant
  // leaves the expectation unchanged) and no entropy term.
  torch::manual_seed(11);
  auto theta = torch::tensor({0.3, -0.8, 1.1, 0.0}, torch::requires_grad());
  auto w = torch::tensor({0.2, 1.5, -0.4, 0.9}, torch::requires_grad());
  auto log_likelihood_of = [&](const torch::Tensor& s) { return -(w.index({s}) - 1).pow(2) - 0.5 * s.to(torch::kFloat32); };
  auto alpha = torch::softmax(theta, 0);
  auto exact = -(alpha * log_likelihood_of(torch::arange(4))).sum();
  auto exact_grads = torch::autograd::grad({exact}, {theta, w});

  const int64_t n = 400000;
  auto alpha_again = torch::softmax(theta, 0);
  auto s = torch::multinomial(alpha_again.detach(), n, /*replacement=*/true);
  auto log_prob = torch::log(alpha_again).index({s});
  auto surrogate = models::reinforce_surrogate(log_likelihood_of(s), log_prob, torch::zeros({n}), /*baseline=*/torch::tensor(-1.3), 1.0, 0.0).mean();
  auto estimated = torch::autograd::grad({surrogate}, {theta, w});
  CAPTURE(exact_grads[0], estimated[0], exact_grads[1], estimated[1]);
  CHECK(torch::allclose(estimated[0], exact_grads[0], 0.0, 0.02));
  CHECK(torch::allclose(estimated[1], exact_grads[1], 0.0, 0.02));
  // Without the REINFORCE term the attention gets no gradient at all: the sample has none.
  auto log_prob_again = torch::log(torch::softmax(theta, 0)).index({s});
  auto no_reinforce = models::reinforce_surrogate(log_likelihood_of(s), log_prob_again, torch::zeros({n}), torch::tensor(0.0), 0.0, 0.0).mean();
  auto none = torch::autograd::grad({no_reinforce}, {theta}, {}, c10::nullopt, false, /*allow_unused=*/true);
  CHECK((!none[0].defined() || none[0].abs().max().item<double>() == 0));
}

TEST_CASE("hard attention decodes through one location, trains through samples and keeps its baseline", "[caption][models]") {
  auto model = tiny("show_attend_tell_hard");
  CHECK(model->samples_attention());
  auto images = torch::randn({2, 3, 32, 32});
  auto step = model->decode_step(torch::full({2}, 2, torch::kInt64), model->encode(images));
  // One-hot: each row one 1, at alpha's argmax.
  CHECK(torch::equal(step.attention.sum(1), torch::ones({2})));
  CHECK(std::get<0>(step.attention.max(1)).eq(1).all().item<bool>());
  auto tokens_in = torch::tensor({{2, 5, 6}, {2, 7, 0}}, torch::kInt64), tokens_out = torch::tensor({{5, 6, 3}, {7, 3, 0}}, torch::kInt64);
  model->train();
  auto hard = std::dynamic_pointer_cast<models::ShowAttendTellHardImpl>(model);
  REQUIRE(hard);
  CHECK(std::isnan(hard->baseline.item<double>()));
  auto loss = model->loss(images, tokens_in, tokens_out, 0.0);
  loss.backward();
  CHECK(std::isfinite(hard->baseline.item<double>()));
  CHECK(hard->attend_score->weight.grad().defined());
  CHECK(hard->attend_score->weight.grad().abs().sum().item<double>() > 0);
  // The baseline is a buffer: it travels in checkpoints.
  bool saved = false;
  for (const auto& b : model->named_buffers()) saved = saved || b.key() == "baseline";
  CHECK(saved);
}

}  // namespace test_caption
