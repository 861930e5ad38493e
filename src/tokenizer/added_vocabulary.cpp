#include "tokenizer/added_vocabulary.hpp"

#include <algorithm>

#include "fp4gptq/error.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/json_fields.hpp"
#include "tokenizer/normalizers.hpp"
#include "tokenizer/unicode.hpp"

namespace fp4gptq::tokenizer {

namespace {

// The last character of s[0, end) (s well formed, end > 0).
char32_t char_before(std::string_view s, size_t end) {
  size_t b = prev_char_start(s, end);
  return next_char(s, b);
}

}  // namespace

void AddedVocabulary::Trie::insert(std::string_view key, int32_t token) {
  if (key.empty()) return;
  first_byte[static_cast<unsigned char>(key[0])] = true;
  int32_t n = 0;
  for (const char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    auto& next = nodes[n].next;
    const auto it = std::lower_bound(next.begin(), next.end(), c, [](const auto& e, unsigned char v) { return e.first < v; });
    if (it != next.end() && it->first == c) {
      n = it->second;
    } else {
      const auto child = static_cast<int32_t>(nodes.size());
      next.insert(it, {c, child});
      nodes.emplace_back();
      n = child;
    }
  }
  if (nodes[n].token < 0) nodes[n].token = token;  // the same content twice: the first token
}

int32_t AddedVocabulary::Trie::longest(std::string_view s, size_t at, size_t& len) const {
  int32_t best = -1;
  int32_t n = 0;
  for (size_t i = at; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const auto& next = nodes[n].next;
    const auto it = std::lower_bound(next.begin(), next.end(), c, [](const auto& e, unsigned char v) { return e.first < v; });
    if (it == next.end() || it->first != c) break;
    n = it->second;
    if (nodes[n].token >= 0) {
      best = nodes[n].token;
      len = i + 1 - at;
    }
  }
  return best;
}

AddedVocabulary::AddedVocabulary(const nlohmann::json& list, const Normalizer* normalizer, const BpeModel& model,
                                 const std::string& where) {
  if (list.is_null()) return;
  if (!list.is_array()) throw Error(where + ": expected a list of tokens");
  std::vector<AddedToken> entries;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const auto& t = list[i];
    AddedToken tok;
    tok.content = string_field(t, "content", at);
    const int64_t file_id = int_field(t, "id", at);
    if (file_id < 0 || file_id > 0x7FFFFFFF) throw Error(at + ".id: expected a token id in [0, 2^31)");
    tok.single_word = bool_or(t, "single_word", false, at);
    tok.lstrip = bool_or(t, "lstrip", false, at);
    tok.rstrip = bool_or(t, "rstrip", false, at);
    tok.special = bool_or(t, "special", false, at);
    tok.normalized = bool_or(t, "normalized", !tok.special, at);
    check_utf8(tok.content, at + ".content");
    entries.push_back(std::move(tok));
  }
  // tokenizers' add_tokens: a content is special if any entry says so; which trie it is matched in comes from its
  // first special entry (or its first entry); its id from its first entry; the flags used when matching from its
  // last entry (an entry equal in every field to an earlier one is ignored).
  std::unordered_map<std::string, bool> trie_normalized;
  for (const auto& e : entries)
    if (e.special && !e.content.empty() && !trie_normalized.count(e.content)) trie_normalized[e.content] = e.normalized;
  const auto same = [](const AddedToken& a, const AddedToken& b) {
    return a.content == b.content && a.single_word == b.single_word && a.lstrip == b.lstrip && a.rstrip == b.rstrip &&
           a.normalized == b.normalized && a.special == b.special;
  };
  std::vector<AddedToken> seen;
  auto next_id = static_cast<uint32_t>(model.size());
  for (auto& e : entries) {
    if (e.content.empty() || std::any_of(seen.begin(), seen.end(), [&](const auto& s) { return same(s, e); })) continue;
    seen.push_back(e);
    const bool special = trie_normalized.count(e.content) > 0;
    if (const auto it = by_content_.find(e.content); it != by_content_.end()) {
      AddedToken& t = tokens_[it->second];
      const uint32_t id = t.id;
      const bool norm = t.normalized;
      t = e;
      t.id = id;
      t.normalized = norm;  // the trie it went into
      t.special = special;
      continue;
    }
    const auto model_id = model.token_to_id(e.content);
    e.id = model_id ? *model_id : next_id++;
    if (special) e.normalized = trie_normalized[e.content];
    e.special = special;
    by_content_.emplace(e.content, tokens_.size());
    by_id_[e.id] = tokens_.size();
    tokens_.push_back(std::move(e));
  }
  for (size_t k = 0; k < tokens_.size(); ++k) {
    const auto& t = tokens_[k];
    if (!t.normalized) {
      raw_.insert(t.content, static_cast<int32_t>(k));
    } else {
      std::string n = t.content;
      if (normalizer) normalizer->normalize(n);
      normalized_.insert(n, static_cast<int32_t>(k));
    }
  }
}

const AddedToken* AddedVocabulary::by_id(uint32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

uint32_t AddedVocabulary::max_id() const {
  uint32_t m = 0;
  for (const auto& t : tokens_) m = std::max(m, t.id);
  return m;
}

const AddedToken* AddedVocabulary::by_content(std::string_view content) const {
  const auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

// AddedVocabulary::find_matches: every leftmost-longest match, then the token's single_word / lstrip / rstrip.
void AddedVocabulary::split(Piece&& piece, const Trie& trie, Pieces& out) const {
  const std::string& s = piece.text;
  size_t start_offset = 0;
  auto text_piece = [&](size_t b, size_t e) { out.push_back({s.substr(b, e - b), -1, piece.at_origin && b == 0}); };
  bool any = false;
  for (size_t at = 0; at < s.size();) {
    if (!trie.first_byte[static_cast<unsigned char>(s[at])]) {
      ++at;
      continue;
    }
    size_t len = 0;
    const int32_t k = trie.longest(s, at, len);
    if (k < 0) {
      ++at;
      continue;
    }
    const AddedToken& tok = tokens_[k];
    size_t start = at, stop = at + len;
    at = stop;  // the search goes on after the match itself, whatever rstrip takes
    if (tok.single_word) {
      const bool space_before = start == 0 || !is_word_char(char_before(s, start));
      size_t j = stop;
      const bool space_after = stop == s.size() || !is_word_char(next_char(s, j));
      if (!space_before || !space_after) continue;
    }
    // lstrip: the whitespace run ending at start, not reaching back before the previous match.
    if (tok.lstrip) start = std::max(whitespace_run_before(s, start), start_offset);
    if (tok.rstrip) stop = whitespace_run_after(s, stop);
    if (start_offset < start) text_piece(start_offset, start);
    out.push_back({s.substr(start, stop - start), static_cast<int64_t>(tok.id), piece.at_origin && start == 0});
    start_offset = stop;
    any = true;
  }
  if (!any) {
    out.push_back(std::move(piece));
    return;
  }
  if (start_offset < s.size()) text_piece(start_offset, s.size());
}

Pieces AddedVocabulary::extract_and_normalize(std::string_view text, const Normalizer* normalizer) const {
  Pieces pieces;
  if (text.empty()) return pieces;
  split(Piece{std::string(text), -1, true}, raw_, pieces);
  std::erase_if(pieces, [](const Piece& p) { return p.text.empty(); });
  split_pieces(pieces, [&](Piece& p, Pieces& out) {
    if (normalizer) normalizer->normalize(p.text, p.at_origin);
    split(std::move(p), normalized_, out);
  });
  return pieces;
}

}  // namespace fp4gptq::tokenizer
