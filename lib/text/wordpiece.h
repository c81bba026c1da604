// BERT's tokenizer (Devlin et al. 2018; Google's tokenization.py, Hugging Face's BertTokenizer):
// a basic tokenizer (control characters dropped, whitespace normalised, CJK ideographs split apart,
// optionally lowercased with accents stripped, punctuation split off) and then WordPiece: each
// word split greedily into the longest pieces of the vocabulary from its left, continuation pieces
// marked "##" ("unaffable" -> "un", "##aff", "##able"), a word with no split (or longer than 100
// characters) one [UNK].
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace zoo::text {

class WordPieceTokenizer {
 public:
  // A vocab.txt's text: one piece per line, its id the line's number from 0; `name` is what errors
  // call it. Needs [PAD] (id 0, as every BERT vocabulary), [UNK], [CLS], [SEP] and [MASK]; a line
  // that is not UTF-8, an empty or repeated piece is an error naming the line.
  static WordPieceTokenizer parse(std::string_view vocab_txt, const std::string& name, bool lowercase);
  static WordPieceTokenizer from_file(const std::string& path, bool lowercase);
  // From pieces in id order (the same requirements).
  WordPieceTokenizer(std::vector<std::string> pieces, bool lowercase);

  // The basic tokenizer's words: "Hello, wörld!" -> "hello" "," "world" "!" (lowercased).
  std::vector<std::string> basic_tokenize(std::string_view text) const;
  // One word's pieces.
  std::vector<std::string> wordpiece(const std::string& word) const;
  // Text -> piece ids (no [CLS]/[SEP]); throws zoo::Error on invalid UTF-8.
  std::vector<int64_t> encode(std::string_view text) const;
  // Pieces -> text: "##" pieces joined to the previous one, words by spaces.
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t size() const { return static_cast<int64_t>(pieces_.size()); }
  const std::string& piece(int64_t id) const { return pieces_.at(static_cast<size_t>(id)); }
  int64_t id(const std::string& piece) const;  // [UNK]'s id when absent
  // Whether piece `id` continues a word ("##ed"), for whole-word masking.
  bool continues_word(int64_t id) const { return piece(id).rfind("##", 0) == 0; }
  bool lowercases() const { return lowercase_; }
  const std::vector<std::string>& pieces() const { return pieces_; }
  int64_t pad() const { return 0; }
  int64_t unk() const { return unk_; }
  int64_t cls() const { return cls_; }
  int64_t sep() const { return sep_; }
  int64_t mask() const { return mask_; }

 private:
  std::vector<std::string> pieces_;
  std::unordered_map<std::string, int64_t> ids_;
  bool lowercase_;
  int64_t unk_ = -1, cls_ = -1, sep_ = -1, mask_ = -1;
};

}  // namespace zoo::text
