// Parallel text reading (plain, gzip, TSV, folders), synth:dates and SentencePiece tokenizers.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <filesystem>
#include <ctime>
#include <fstream>
#include <set>
#include <unistd.h>

#include "data/text_pairs.h"
#include "lib/core/error.h"
#include "lib/text/sentencepiece.h"

namespace test_text_pairs {  // this file's own: the unit tests compile in batches (tests/CMakeLists.txt)

namespace fs = std::filesystem;
using namespace zoo;

namespace {

fs::path scratch(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("zoo_test_text_pairs_" + std::to_string(::getpid())) / name;
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& path, const std::string& content) { std::ofstream(path, std::ios::binary) << content; }

void write_gz(const fs::path& path, const std::string& content) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, content.data(), static_cast<unsigned>(content.size()));
  gzclose(f);
}

}  // namespace

TEST_CASE("text lines come from plain and gzip files alike, CRLF stripped, bad UTF-8 located", "[data][text]") {
  auto dir = scratch("lines");
  write(dir / "a.txt", "Zwei Männer\r\nein Hund\n");
  write_gz(dir / "b.gz", "Zwei Männer\nein Hund");
  CHECK(data::read_text_lines((dir / "a.txt").string()) == std::vector<std::string>{"Zwei Männer", "ein Hund"});
  CHECK(data::read_text_lines((dir / "b.gz").string()) == std::vector<std::string>{"Zwei Männer", "ein Hund"});
  write(dir / "bad.txt", "fine\nbroken \xC3\x28 here\n");
  CHECK_THROWS_WITH(data::read_text_lines((dir / "bad.txt").string()), Catch::Contains("bad.txt:2: invalid UTF-8 at byte 7"));
  CHECK_THROWS_WITH(data::read_text_lines((dir / "missing.txt").string()), Catch::Contains("not found"));
  write(dir / "cut.gz", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xf3\x48\xcd");
  CHECK_THROWS_AS(data::read_text_lines((dir / "cut.gz").string()), Error);
}

TEST_CASE("parallel data: prefix files, folders with splits, TSV, and mismatches that name both files", "[data][text]") {
  auto dir = scratch("pairs");
  write(dir / "train.de", "ein Hund\nzwei Katzen\n\ndrei Vögel\n");
  write_gz(dir / "train.en.gz", "a dog\ntwo cats\nnothing\nthree birds\n");
  write(dir / "val.de", "ein Vogel\n");
  write(dir / "val.en", "a bird\n");
  write(dir / "test_2016_flickr.de", "eine Maus\n");
  write(dir / "test_2016_flickr.en", "a mouse\n");
  auto train = data::load_pairs(dir.string(), "train", "de", "en", 0.1, 0, 0);
  CHECK(train.source == std::vector<std::string>{"ein Hund", "zwei Katzen", "drei Vögel"});
  CHECK(train.target == std::vector<std::string>{"a dog", "two cats", "three birds"});
  CHECK(train.skipped_empty == 1);
  CHECK(data::load_pairs(dir.string(), "val", "de", "en", 0.1, 0, 0).target == std::vector<std::string>{"a bird"});
  CHECK(data::load_pairs(dir.string(), "test", "de", "en", 0.1, 0, 0).target == std::vector<std::string>{"a mouse"});
  CHECK(data::load_pairs(dir.string(), "test_2016_flickr", "de", "en", 0.1, 0, 0).size() == 1);
  CHECK_THROWS_AS(data::load_pairs(dir.string(), "train", "", "", 0.1, 0, 0), UsageError);
  // PREFIX form: one corpus, the last val_fraction held out.
  auto prefix = (dir / "train").string();
  auto head = data::load_pairs(prefix, "train", "de", "en", 0.34, 0, 0), tail = data::load_pairs(prefix, "val", "de", "en", 0.34, 0, 0);
  CHECK(head.size() == 2);
  CHECK(tail.source == std::vector<std::string>{"drei Vögel"});

  write(dir / "short.en", "a dog\n");
  CHECK_THROWS_WITH(data::read_parallel_files((dir / "train.de").string(), (dir / "short.en").string()),
                    Catch::Contains("train.de has 4 lines") && Catch::Contains("short.en has 1"));
  write(dir / "pairs.tsv", "ein Hund\ta dog\nzwei\tKatzen\ttwo cats\n");
  CHECK_THROWS_WITH(data::read_tsv((dir / "pairs.tsv").string()), Catch::Contains("pairs.tsv:2"));
  write(dir / "pairs.tsv", "ein Hund\ta dog\nzwei Katzen\ttwo cats\ndrei\tthree\n");
  CHECK(data::load_pairs((dir / "pairs.tsv").string(), "val", "", "", 0.34, 0, 0).target == std::vector<std::string>{"three"});
}

TEST_CASE("synth:dates pairs are correct, varied and deterministic for a seed", "[data]") {
  auto a = data::synth_dates(500, 7), b = data::synth_dates(500, 7), c = data::synth_dates(500, 8);
  CHECK(a.source == b.source);
  CHECK(a.target == b.target);
  CHECK(a.source != c.source);
  std::set<std::string> shapes;
  for (int64_t i = 0; i < a.size(); ++i) {
    const auto& iso = a.target[i];
    REQUIRE(iso.size() == 10);
    CHECK(iso[4] == '-');
    const int year = std::stoi(iso.substr(0, 4)), month = std::stoi(iso.substr(5, 2)), day = std::stoi(iso.substr(8, 2));
    CHECK((year >= 1900 && year < 2100 && month >= 1 && month <= 12 && day >= 1 && day <= 31));
    // The day of the month appears in every human form, with or without a leading zero.
    CHECK(a.source[i].find(std::to_string(day)) != std::string::npos);
    std::string shape = a.source[i];
    for (char& ch : shape) ch = std::isdigit(static_cast<unsigned char>(ch)) ? '9' : std::isalpha(static_cast<unsigned char>(ch)) ? 'a' : ch;
    shapes.insert(shape);
  }
  CHECK(shapes.size() >= 12);
  // Weekdays agree with the C library's calendar (timegm/gmtime).
  const char* names[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
  int checked = 0;
  for (int64_t i = 0; i < a.size(); ++i) {
    if (a.source[i].find("day,") == std::string::npos) continue;  // the "Wednesday, March 3rd 2021" format
    std::tm date{};
    date.tm_year = std::stoi(a.target[i].substr(0, 4)) - 1900, date.tm_mon = std::stoi(a.target[i].substr(5, 2)) - 1;
    date.tm_mday = std::stoi(a.target[i].substr(8, 2)), date.tm_hour = 12;
    const std::time_t t = timegm(&date);
    std::tm back{};
    gmtime_r(&t, &back);
    CAPTURE(a.source[i], a.target[i]);
    CHECK(a.source[i].rfind(names[back.tm_wday], 0) == 0);
    ++checked;
  }
  CHECK(checked > 10);
}

TEST_CASE("SentencePiece BPE and unigram models train, round-trip non-ASCII text and survive JSON", "[text][sentencepiece]") {
  CHECK(text::base64_decode(text::base64_encode(std::string("\0\xff\x10zoo", 6))) == std::string("\0\xff\x10zoo", 6));
  // Where the build made the plug-in (libsentencepiece-dev installed, as scripts/setup.sh does),
  // it must load next to LibTorch; where it did not, the tokenizers are a clear usage error.
  const auto build_dir = fs::read_symlink("/proc/self/exe").parent_path().parent_path();
  const bool built = fs::exists(build_dir / "libzoo_sentencepiece.so");
  REQUIRE(text::sentencepiece_available() == built);
  if (!built) {
    CHECK_THROWS_WITH(text::train_sentencepiece({"a b"}, "bpe", 60, false), Catch::Contains("libzoo_sentencepiece.so"));
    WARN("built without libsentencepiece: only the usage error was checked");
    return;
  }
  std::vector<std::string> corpus;
  const std::vector<std::string> words{"Männer", "Frauen", "Straße", "spielen", "Fußball", "im", "Park", "der", "die", "Kinder", "laufen", "schnell"};
  for (int i = 0; i < 400; ++i)
    corpus.push_back(words[i % 12] + " " + words[(i * 7 + 3) % 12] + " " + words[(i * 5 + 1) % 12] + ".");
  for (const std::string kind : {"bpe", "unigram"}) {
    CAPTURE(kind);
    text::SentencePieceTokenizer tokenizer(text::train_sentencepiece(corpus, kind, 60, false), false);
    CHECK(tokenizer.model_type() == kind);
    const std::string sentence = "Männer spielen Fußball im Park.";
    auto pieces = tokenizer.tokenize(sentence);
    CHECK(pieces.size() > 1);
    CHECK(pieces.size() < 31);
    CHECK(tokenizer.detokenize(pieces) == sentence);
    auto restored = text::tokenizer_from_json(tokenizer.to_json());
    CHECK(restored->tokenize(sentence) == pieces);
  }
  text::SentencePieceTokenizer lower(text::train_sentencepiece(corpus, "bpe", 60, true), true);
  CHECK(lower.detokenize(lower.tokenize("MÄNNER im Park")) == "männer im park");
  CHECK_THROWS_WITH(text::SentencePieceTokenizer("not a model", false), Catch::Contains("cannot load the SentencePiece model"));
}

}  // namespace test_text_pairs
