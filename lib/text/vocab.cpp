#include "lib/text/vocab.h"

#include <algorithm>

#include "lib/core/error.h"

namespace zoo::text {

const std::vector<std::string>& Vocab::specials() {
  static const std::vector<std::string> names{"<pad>", "<unk>", "<bos>", "<eos>"};
  return names;
}

Vocab::Vocab() : Vocab(specials()) {}

Vocab::Vocab(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i)
    if (!ids_.emplace(tokens_[i], static_cast<int64_t>(i)).second) throw Error("vocabulary lists '" + tokens_[i] + "' twice");
}

Vocab Vocab::build(const std::vector<std::vector<std::string>>& sentences, int64_t min_frequency, int64_t max_size) {
  if (min_frequency < 1) throw UsageError("vocabulary min frequency must be at least 1");
  if (max_size != 0 && max_size <= static_cast<int64_t>(specials().size()))
    throw UsageError("vocabulary max size must exceed the " + std::to_string(specials().size()) + " special tokens (or be 0: no limit)");
  std::unordered_map<std::string, int64_t> counts;
  for (const auto& sentence : sentences)
    for (const auto& token : sentence) ++counts[token];
  for (const auto& special : specials()) counts.erase(special);  // they are always in, once
  std::vector<std::pair<std::string, int64_t>> kept;
  for (auto& [token, count] : counts)
    if (count >= min_frequency) kept.emplace_back(token, count);
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  std::vector<std::string> tokens = specials();
  for (const auto& [token, count] : kept) {
    if (max_size != 0 && static_cast<int64_t>(tokens.size()) >= max_size) break;
    tokens.push_back(token);
  }
  return Vocab(std::move(tokens));
}

int64_t Vocab::id(const std::string& token) const {
  const auto found = ids_.find(token);
  return found == ids_.end() ? kUnk : found->second;
}

const std::string& Vocab::token(int64_t id) const {
  if (id < 0 || id >= size()) throw Error("token id " + std::to_string(id) + " outside the vocabulary of " + std::to_string(size()));
  return tokens_[static_cast<size_t>(id)];
}

std::vector<int64_t> Vocab::encode(const std::vector<std::string>& tokens) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (const auto& t : tokens) ids.push_back(id(t));
  return ids;
}

std::vector<std::string> Vocab::decode(const std::vector<int64_t>& ids) const {
  std::vector<std::string> tokens;
  for (int64_t i : ids) {
    if (i == kEos) break;
    if (i == kPad || i == kBos) continue;
    tokens.push_back(token(i));
  }
  return tokens;
}

Json Vocab::to_json() const { return tokens_; }

Vocab Vocab::from_json(const Json& j) {
  if (!j.is_array()) throw Error("vocabulary: expected a JSON array of tokens");
  std::vector<std::string> tokens;
  for (const auto& t : j) {
    if (!t.is_string()) throw Error("vocabulary: token " + std::to_string(tokens.size()) + " is not a string");
    tokens.push_back(t.get<std::string>());
  }
  if (tokens.size() < specials().size() || !std::equal(specials().begin(), specials().end(), tokens.begin()))
    throw Error("vocabulary: must start with <pad> <unk> <bos> <eos>");
  return Vocab(std::move(tokens));
}

}  // namespace zoo::text
