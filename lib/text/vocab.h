// A token vocabulary with the four specials every sequence task uses, built from training text
// with a minimum frequency and a maximum size; it serialises to JSON to travel in checkpoints.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "lib/core/options.h"

namespace zoo::text {

class Vocab {
 public:
  static constexpr int64_t kPad = 0, kUnk = 1, kBos = 2, kEos = 3;
  static const std::vector<std::string>& specials();  // "<pad>", "<unk>", "<bos>", "<eos>"

  Vocab();  // the specials only

  // Tokens seen at least `min_frequency` times, most frequent first (ties in byte order, so the
  // result does not depend on input order beyond the counts); `max_size` counts the specials,
  // 0 means no limit.
  static Vocab build(const std::vector<std::vector<std::string>>& sentences, int64_t min_frequency = 1, int64_t max_size = 0);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t id(const std::string& token) const;  // kUnk when absent
  const std::string& token(int64_t id) const;  // throws zoo::Error when out of range
  std::vector<int64_t> encode(const std::vector<std::string>& tokens) const;
  // Ids to tokens, stopping at <eos> and skipping <pad> and <bos>.
  std::vector<std::string> decode(const std::vector<int64_t>& ids) const;

  Json to_json() const;
  static Vocab from_json(const Json& j);  // errors name what is wrong

 private:
  explicit Vocab(std::vector<std::string> tokens);
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace zoo::text
