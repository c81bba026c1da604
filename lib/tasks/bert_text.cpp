#include "lib/tasks/bert_text.h"

#include <algorithm>

#include "lib/core/error.h"

namespace zoo {

text::WordPieceTokenizer bert_tokenizer(const data::BertInputs& inputs, const std::vector<std::string>& training_lines) {
  if (!inputs.vocab_file.empty()) return text::WordPieceTokenizer::from_file(inputs.vocab_file, inputs.lowercase);
  return text::learn_wordpiece(training_lines, inputs.learnt_vocab, inputs.lowercase);
}

std::vector<int64_t> encode_with_masks(const text::WordPieceTokenizer& tokenizer, const std::string& text) {
  static const std::string marker = "[MASK]";
  std::vector<int64_t> ids;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(marker, start);
    for (int64_t id : tokenizer.encode(std::string_view(text).substr(start, at == std::string::npos ? std::string::npos : at - start))) ids.push_back(id);
    if (at == std::string::npos) break;
    ids.push_back(tokenizer.mask());
    start = at + marker.size();
  }
  return ids;
}

std::vector<int64_t> bert_sequence(const text::WordPieceTokenizer& tokenizer, std::vector<int64_t> ids, int64_t seq_len) {
  if (static_cast<int64_t>(ids.size()) > seq_len - 2) ids.resize(static_cast<size_t>(seq_len - 2));
  ids.insert(ids.begin(), tokenizer.cls());
  ids.push_back(tokenizer.sep());
  return ids;
}

torch::Tensor pad_rows(const std::vector<std::vector<int64_t>>& rows, int64_t fill) {
  size_t longest = 0;
  for (const auto& row : rows) longest = std::max(longest, row.size());
  auto out = torch::full({static_cast<int64_t>(rows.size()), static_cast<int64_t>(longest)}, fill, torch::kInt64);
  auto a = out.accessor<int64_t, 2>();
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t j = 0; j < rows[r].size(); ++j) a[static_cast<int64_t>(r)][static_cast<int64_t>(j)] = rows[r][j];
  return out;
}

std::vector<std::string> write_bert_attention(models::BertImpl& model, const text::WordPieceTokenizer& tokenizer, const std::vector<int64_t>& ids,
                                              const viz::LookOptions& look, const std::string& out_png, torch::Device device) {
  model.eval();
  const auto figures = model.look(torch::tensor(ids, torch::kInt64).unsqueeze(0).to(device), look);
  std::vector<std::string> pieces;
  for (int64_t id : ids) pieces.push_back(tokenizer.piece(id));
  return viz::write_figures(figures, {cv::Mat(), {{viz::Axis::Tokens, pieces}}}, out_png);
}

}  // namespace zoo
