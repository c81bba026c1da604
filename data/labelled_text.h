// Texts with a class each, for --task text_classify: a TSV of text<TAB>label lines (or a folder
// of train.tsv, val.tsv and test.tsv), a play read as "who speaks this line" (speakers:PLAY.txt,
// the ten speakers with the most lines), or synth:topics (sentences about one of four topics).
// A single file is split by a seeded hash: of its lines, or of a play's speeches, so that the
// lines of one speech never fall on both sides.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace zoo::data {

struct LabelledText {
  std::vector<std::string> texts, labels;
  std::vector<std::string> origins;  // "FILE:LINE" per text
};

// The part `split` ("train"; "val" or "test": the held-out part, or val.tsv / test.tsv) of `data`.
// Errors name the file and line; an empty part is an error.
LabelledText load_labelled_text(const std::string& data, const std::string& split, double val_fraction, int64_t synth_size, uint64_t seed);

// synth:topics' part: sentences of 6-12 words, about a third of them words of the topic (animals,
// food, weather, sports), the rest shared by all topics; n for train, n/4 (at least 64) held out.
LabelledText synth_topics(int64_t n, uint64_t seed);

// How many of the play's speakers --data speakers:FILE keeps.
constexpr size_t kPlaySpeakers = 10;

}  // namespace zoo::data
