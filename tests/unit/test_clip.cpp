// CLIP: the tokenizer against the released one's ids, the model against its published shapes,
// the contrastive loss against a hand computation, gradient caching against the full batch.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "lib/core/error.h"
#include "lib/core/registry.h"
#include "lib/tasks/builtin.h"
#include "lib/tasks/clip.h"
#include "models/clip/clip.h"
#include "lib/text/clip_bpe.h"

namespace test_clip {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

using namespace zoo;

namespace {

const text::ClipBpe& clip_bpe() {
  static const text::ClipBpe bpe = text::ClipBpe::from_file(text::find_clip_merges_file([] {
    const char* env = std::getenv("ZOO_SHARED_DATA");
    return std::string(env ? env : ZOO_SHARED_DATA_DIR) + "/clip/bpe_simple_vocab_16e6.txt.gz";
  }()));
  return bpe;
}

using Ids = std::vector<int64_t>;

}  // namespace

TEST_CASE("CLIP BPE gives the released tokenizer's ids", "[clip]") {
  const auto& bpe = clip_bpe();
  CHECK(bpe.vocab_size() == 49408);
  CHECK(bpe.start_token() == 49406);
  CHECK(bpe.end_token() == 49407);
  // The released tokenizer's ids (openai/CLIP's simple_tokenizer).
  CHECK(bpe.encode("a photo of a dog.") == Ids{320, 1125, 539, 320, 1929, 269});
  CHECK(bpe.encode("Hello, World!") == Ids{3306, 267, 1002, 256});
  // Lower-cased and whitespace-collapsed first: the same ids.
  CHECK(bpe.encode("  A   PHOTO of a\tDOG. ") == Ids{320, 1125, 539, 320, 1929, 269});
  // The byte alphabet: '!' is the first printable byte, so "!</w>" is 256 + 0 and "a</w>" 256 + 64.
  CHECK(bpe.symbol(0) == "!");
  CHECK(bpe.symbol(256) == "!</w>");
  CHECK(bpe.symbol(320) == "a</w>");
  // The 188 printable bytes come first; then the others in byte order from U+0100: byte 0 is
  // "Ā" (188) and byte 0x20, the space, the 33rd of them, "Ġ" (220).
  CHECK(bpe.symbol(188) == "\xC4\x80");
  CHECK(bpe.symbol(220) == "\xC4\xA0");
  // The special tokens are recognised in the text.
  const auto with_specials = bpe.encode("<|startoftext|>a dog<|endoftext|>");
  CHECK(with_specials == Ids{49406, 320, 1929, 49407});
}

TEST_CASE("CLIP BPE pre-splits and cleans as the released tokenizer", "[clip]") {
  using Pieces = std::vector<std::string>;
  // Contractions split off; one digit per piece; punctuation runs together.
  CHECK(text::ClipBpe::pre_split("It's 2021!!  Don't") == Pieces{"it", "'s", "2", "0", "2", "1", "!!", "don", "'t"});
  // A punctuation run swallows the apostrophe; a contraction starts only at it.
  CHECK(text::ClipBpe::pre_split("no!'s x'll") == Pieces{"no", "!'", "s", "x", "'ll"});
  // Curly quotes are made straight (ftfy), so "don’t" splits as "don't".
  CHECK(text::ClipBpe::pre_split("don\xE2\x80\x99t") == Pieces{"don", "'t"});
  // HTML entities are unescaped twice; ligatures and full-width letters spelt out; NFC.
  CHECK(text::ClipBpe::clean("fish &amp;amp; chips") == "fish & chips");
  CHECK(text::ClipBpe::clean("\xEF\xAC\x81ne \xEF\xBC\xA1\xEF\xBC\xA2") == "fine ab");
  CHECK(text::ClipBpe::clean("cafe\xCC\x81") == "caf\xC3\xA9");
  // Letters of any script are one piece; other symbols a run of their own.
  CHECK(text::ClipBpe::pre_split("\xCE\xB3\xCE\xB5\xCE\xB9\xCE\xAC \xF0\x9F\x90\xB6\xF0\x9F\x90\xB1") ==
        Pieces{"\xCE\xB3\xCE\xB5\xCE\xB9\xCE\xAC", "\xF0\x9F\x90\xB6\xF0\x9F\x90\xB1"});
  CHECK_THROWS_AS(text::ClipBpe::pre_split("bad \xFF byte"), Error);
}

TEST_CASE("CLIP BPE decodes what it encodes", "[clip]") {
  const auto& bpe = clip_bpe();
  // Every piece ends a word, so decoding puts a space after each; without spaces it is the clean text.
  auto no_spaces = [](std::string s) { s.erase(std::remove(s.begin(), s.end(), ' '), s.end()); return s; };
  for (const std::string s : {"a photo of a dog.", "Caf\xC3\xA9 \xF0\x9F\x90\xB6 na\xC3\xAFve 12,345", "the quick brown fox's tail"})
    CHECK(no_spaces(bpe.decode(bpe.encode(s))) == no_spaces(text::ClipBpe::clean(s)));
  CHECK(bpe.decode(bpe.encode("a photo of a dog.")) == "a photo of a dog . ");
  CHECK(bpe.decode(bpe.encode("caf\xC3\xA9 \xF0\x9F\x90\xB6")) == "caf\xC3\xA9 \xF0\x9F\x90\xB6 ");
  CHECK_THROWS_AS(bpe.decode({49408}), Error);
  // A checkpoint carries the merges: the tokenizer from JSON gives the same ids.
  const auto again = text::ClipBpe::from_json(bpe.to_json());
  CHECK(again.encode("Hello, World!") == Ids{3306, 267, 1002, 256});
}

namespace {

std::shared_ptr<models::ClipImpl> create_clip(const std::string& name, const Json& options = Json::object()) {
  auto typed = std::dynamic_pointer_cast<models::ClipImpl>(registry().create_model(name, options));
  REQUIRE(typed);
  return typed;
}

// A CLIP small enough for gradient checks: 8 px images on 4 px patches, one block per tower.
Json tiny_clip_options() {
  return {{"input_size", 8},   {"patch_size", 4},     {"vision_width", 16}, {"vision_layers", 1}, {"vision_heads", 2},
          {"context_length", 6}, {"vocab_size", 20},  {"text_width", 16},   {"text_heads", 2},    {"text_layers", 1},
          {"embed_dim", 8},      {"eot_token", 19}};
}

}  // namespace

TEST_CASE("CLIP models have openai/CLIP's parameter counts and names", "[clip]") {
  // The released models' counts (openai/CLIP), independent of the registry's table.
  const std::map<std::string, int64_t> reference{{"clip_vit_b_32", 151277313}, {"clip_vit_b_16", 149620737}, {"clip_rn50", 102007137}};
  torch::NoGradGuard no_grad;
  for (const auto* spec : registry().models("clip")) {
    INFO(spec->name);
    auto model = create_clip(spec->name);
    CHECK(count_parameters(*model) == spec->params);
    if (reference.count(spec->name)) CHECK(count_parameters(*model) == reference.at(spec->name));
  }
  std::set<std::string> vit, resnet;
  for (const auto& p : create_clip("clip_vit_b_32")->named_parameters()) vit.insert(p.key());
  auto rn50 = create_clip("clip_rn50");
  for (const auto& p : rn50->named_parameters()) resnet.insert(p.key());
  for (const auto& b : rn50->named_buffers()) resnet.insert(b.key());
  for (const char* name : {"visual.conv1.weight", "visual.class_embedding", "visual.positional_embedding", "visual.ln_pre.weight",
                           "visual.transformer.resblocks.11.attn.in_proj_weight", "visual.transformer.resblocks.0.mlp.c_fc.weight",
                           "visual.ln_post.bias", "visual.proj", "token_embedding.weight", "positional_embedding",
                           "transformer.resblocks.11.attn.out_proj.weight", "transformer.resblocks.0.ln_2.weight", "ln_final.weight",
                           "text_projection", "logit_scale"})
    CHECK(vit.count(name));
  // 152 tensors in the image tower (12 per block), 150 in the text tower and logit_scale.
  CHECK(vit.size() == 302);
  for (const char* name : {"visual.conv1.weight", "visual.bn3.running_var", "visual.layer1.0.downsample.0.weight", "visual.layer1.0.downsample.1.bias",
                           "visual.layer4.2.bn3.num_batches_tracked", "visual.attnpool.positional_embedding", "visual.attnpool.q_proj.weight",
                           "visual.attnpool.c_proj.bias", "transformer.resblocks.11.mlp.c_proj.bias"})
    CHECK(resnet.count(name));
  // Only a block that changes width or strides has a shortcut projection.
  CHECK(!resnet.count("visual.layer1.1.downsample.0.weight"));
}

TEST_CASE("CLIP's contrastive loss equals a hand computation on three pairs", "[clip]") {
  // Image 0 is (3, 0): normalised to (1, 0). The temperature is 2.
  const auto images = torch::tensor({3.0, 0.0, 0.0, 1.0, 0.6, 0.8}).view({3, 2});
  const auto texts = torch::tensor({1.0, 0.0, 0.6, 0.8, 0.0, 1.0}).view({3, 2});
  // logits = 2 I T^T = [[2, 1.2, 0], [0, 1.6, 2], [1.2, 2, 1.6]]
  const double l[3][3] = {{2, 1.2, 0}, {0, 1.6, 2}, {1.2, 2, 1.6}};
  double image_to_text = 0, text_to_image = 0;
  for (int i = 0; i < 3; ++i) {
    image_to_text += -l[i][i] + std::log(std::exp(l[i][0]) + std::exp(l[i][1]) + std::exp(l[i][2]));
    text_to_image += -l[i][i] + std::log(std::exp(l[0][i]) + std::exp(l[1][i]) + std::exp(l[2][i]));
  }
  const double expected = (image_to_text / 3 + text_to_image / 3) / 2;  // 0.8675...
  const auto loss = models::clip_contrastive_loss(images.to(torch::kFloat32), texts.to(torch::kFloat32), torch::tensor(2.0f));
  CHECK(loss.item<double>() == Approx(expected).epsilon(1e-6));
  CHECK(expected == Approx(0.867517).epsilon(1e-5));
  // Matching pairs only: a large temperature drives the loss to 0.
  const auto eye = torch::eye(3);
  CHECK(models::clip_contrastive_loss(eye, eye, torch::tensor(100.0f)).item<double>() < 1e-6);
}

TEST_CASE("grad_cache gives the whole batch's loss and gradients", "[clip]") {
  auto make = [] {
    torch::manual_seed(3);
    return create_clip("clip_small", tiny_clip_options());
  };
  auto whole = make(), cached = make();
  torch::manual_seed(4);
  const auto images = torch::randn({7, 3, 8, 8});
  auto tokens = torch::randint(0, 19, {7, 6}, torch::kInt64);
  tokens.select(1, 4).fill_(19);  // the end-of-text token, where the text is read
  // The whole batch in one graph.
  const auto out = whole->forward(images, tokens);
  const auto loss = models::clip_contrastive_loss(out.image_embeddings, out.text_embeddings, out.logit_scale);
  (loss * 0.5).backward();
  // Chunks of 3, 3 and 1, each graph built after the loss; the gradient scaled by 0.5 too.
  const auto cached_loss = models::clip_grad_cache_backward(*cached, images, tokens, 3, 0.5);
  CHECK(cached_loss.item<double>() == Approx(loss.item<double>()).epsilon(1e-6));
  const auto a = whole->named_parameters(), b = cached->named_parameters();
  int64_t checked = 0;
  for (const auto& p : a) {
    INFO(p.key());
    const auto& g = p.value().grad();
    const auto& h = b[p.key()].grad();
    REQUIRE(g.defined());
    REQUIRE(h.defined());
    // The chunks add their terms in another order: float32 rounding in proportion to the terms'
    // size (a word embedding's row sums the gradients of every position that reads it).
    const double scale = std::max(1.0, g.abs().max().item<double>());
    INFO("max |g - h| " << (g - h).abs().max().item<double>() << ", max |g| " << scale);
    CHECK(torch::allclose(g, h, 1e-4, 1e-6 * scale));
    checked += g.abs().sum().item<double>() > 0;
  }
  CHECK(checked > 20);  // the gradients are not all zero
  CHECK(b["logit_scale"].grad().abs().item<double>() > 0);
}

TEST_CASE("CLIP's prompt ensemble normalises each prompt before the mean", "[clip]") {
  // Prompts (3, 0) and (0, 1): each normalised to a unit vector, the mean (0.5, 0.5), normalised
  // to (1, 1) / sqrt 2. Averaging before normalising would give (1.5, 0.5) / |.|, leaning to the
  // longer prompt.
  const auto ensemble = models::clip_prompt_ensemble(torch::tensor({3.0f, 0.0f, 0.0f, 1.0f}).view({2, 2}));
  CHECK(ensemble[0].item<double>() == Approx(std::sqrt(0.5)).epsilon(1e-6));
  CHECK(ensemble[1].item<double>() == Approx(std::sqrt(0.5)).epsilon(1e-6));
  // One prompt: its direction.
  const auto one = models::clip_prompt_ensemble(torch::tensor({0.0f, -2.0f}).view({1, 2}));
  CHECK(one[1].item<double>() == Approx(-1.0));
}

TEST_CASE("retrieval recall counts an image's hit on any of its captions", "[clip]") {
  // Two images, image 0 with captions 0 and 1, image 1 with caption 2; similarity (images, captions).
  const auto similarity = torch::tensor({0.2f, 0.9f, 0.5f,   // image 0: caption 1 ranks first -> hit at 1
                                         0.8f, 0.1f, 0.3f})  // image 1: its caption 2 ranks second
                              .view({2, 3});
  const auto image_ranks = retrieval_ranks(similarity, {{0, 1}, {2}});
  CHECK(image_ranks == std::vector<int64_t>{0, 1});
  CHECK(recall_at(image_ranks, 1) == Approx(50.0));
  CHECK(recall_at(image_ranks, 5) == Approx(100.0));
  // Text to image: caption 0 -> image 1 scores higher (0.8 > 0.2): rank 1; caption 1 -> rank 0;
  // caption 2 -> image 0 scores higher (0.5 > 0.3): rank 1.
  const auto text_ranks = retrieval_ranks(similarity.t(), {{0}, {0}, {1}});
  CHECK(text_ranks == std::vector<int64_t>{1, 0, 1});
  CHECK(recall_at(text_ranks, 1) == Approx(100.0 / 3));
  // A tie is not a miss: only strictly higher scores push the true one down.
  CHECK(retrieval_ranks(torch::tensor({0.5f, 0.5f}).view({1, 2}), {{1}}) == std::vector<int64_t>{0});
}

TEST_CASE("CLIP token rows: start, ids, end, padding; long captions cut with the end last", "[clip]") {
  ClipTokens tokens(text::ClipBpe::from_json(clip_bpe().to_json()));
  int64_t cut = 0;
  const auto rows = tokens.rows({"a dog", "a photo of a dog."}, 5, &cut);
  CHECK(rows.sizes() == torch::IntArrayRef({2, 5}));
  CHECK(std::vector<int64_t>(rows[0].data_ptr<int64_t>(), rows[0].data_ptr<int64_t>() + 5) == Ids{49406, 320, 1929, 49407, 0});
  // openai/CLIP's tokenize(truncate=True): the first context tokens, the last made <|endoftext|>.
  CHECK(std::vector<int64_t>(rows[1].data_ptr<int64_t>(), rows[1].data_ptr<int64_t>() + 5) == Ids{49406, 320, 1125, 539, 49407});
  CHECK(cut == 1);
}

}  // namespace test_clip
