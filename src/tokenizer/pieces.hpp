#pragma once
// The text between the stages of the tokenizer (docs/DESIGN.md §11): a list of pieces, each either an added
// token already resolved to its id or text still to be normalized, pre-tokenized and run through the model
// (tokenizers' PreTokenizedString, without the offset alignments, which only offsets need).
#include <cstdint>
#include <string>
#include <vector>

namespace fp4gptq::tokenizer {

struct Piece {
  std::string text;
  int64_t added_id = -1;   // >= 0: an added token, passed through every later stage
  bool at_origin = false;  // starts at byte 0 of the input (Metaspace prepend_scheme "first")
};
using Pieces = std::vector<Piece>;

// Replaces every text piece by the pieces `split(piece, out)` appends (empty ones dropped, as tokenizers'
// PreTokenizedString::split does); added tokens stay as they are.
template <typename Split>
void split_pieces(Pieces& pieces, Split&& split) {
  Pieces out;
  out.reserve(pieces.size());
  for (auto& p : pieces) {
    if (p.added_id >= 0) {
      out.push_back(std::move(p));
      continue;
    }
    const size_t first = out.size();
    split(p, out);
    size_t keep = first;
    for (size_t i = first; i < out.size(); ++i)
      if (!out[i].text.empty()) {
        if (keep != i) out[keep] = std::move(out[i]);
        ++keep;
      }
    out.resize(keep);
  }
  pieces = std::move(out);
}

}  // namespace fp4gptq::tokenizer
