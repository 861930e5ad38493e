#include "tokenizer/bpe.hpp"

#include <queue>

#include "fp4gptq/error.hpp"
#include "tokenizer/json_fields.hpp"
#include "tokenizer/unicode.hpp"

namespace fp4gptq::tokenizer {

namespace {

constexpr size_t kCacheEntries = 1 << 17;
constexpr size_t kCacheMaxWordBytes = 256;

uint64_t pair_key(uint32_t a, uint32_t b) { return (static_cast<uint64_t>(a) << 32) | b; }

std::optional<std::string> optional_string(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return string_field(j, key, where);
}

}  // namespace

BpeModel::BpeModel(const nlohmann::json& j, const std::string& where) {
  const std::string type = type_of(j, where);
  if (type != "BPE") unsupported("model", type, "BPE", where);
  if (j.contains("dropout") && !j["dropout"].is_null() &&
      !(j["dropout"].is_number() && j["dropout"].get<double>() == 0.0))
    throw Error(where + ".dropout: " + j["dropout"].dump() +
                " makes encoding random (BPE-dropout is for training); expected null or 0");
  prefix_ = optional_string(j, "continuing_subword_prefix", where).value_or("");
  suffix_ = optional_string(j, "end_of_word_suffix", where).value_or("");
  fuse_unk_ = bool_or(j, "fuse_unk", false, where);
  byte_fallback_ = bool_or(j, "byte_fallback", false, where);
  ignore_merges_ = bool_or(j, "ignore_merges", false, where);

  const auto& vocab = field(j, "vocab", where);
  if (!vocab.is_object()) throw Error(where + ".vocab: expected an object {token: id}");
  vocab_.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_unsigned() || id.get<uint64_t>() > 0x7FFFFFFFu)
      throw Error(where + ".vocab[\"" + token + "\"]: expected a token id in [0, 2^31), got " + id.dump());
    const auto v = id.get<uint32_t>();
    vocab_.emplace(token, v);
    max_id_ = std::max(max_id_, v);
  }
  if (vocab_.empty()) throw Error(where + ".vocab: empty");
  by_id_.reserve(vocab_.size());
  for (const auto& [token, id] : vocab_) by_id_[id] = &token;

  for (int b = 0; b < 256; ++b) {
    char code[8];
    std::snprintf(code, sizeof code, "<0x%02X>", b);
    const auto it = vocab_.find(std::string_view(code));
    byte_ids_[b] = it == vocab_.end() ? -1 : static_cast<int64_t>(it->second);
  }
  if (const auto unk = optional_string(j, "unk_token", where)) {
    const auto it = vocab_.find(*unk);
    if (it == vocab_.end())  // tokenizers loads such a file and fails only when the unknown token is needed
      unk_missing_ = where + ".unk_token: \"" + *unk + "\" is not in the vocabulary, and the text needs it";
    else
      unk_id_ = it->second;
  }

  const auto& merges = field(j, "merges", where);
  if (!merges.is_array()) throw Error(where + ".merges: expected a list");
  merges_.reserve(merges.size());
  uint32_t rank = 0;
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto& m = merges[i];
    std::string a, b;
    const std::string at = where + ".merges[" + std::to_string(i) + "]";
    if (m.is_string()) {  // "a b" (the older form; "#version" lines are comments)
      const auto& s = m.get_ref<const std::string&>();
      if (s.starts_with("#version")) continue;
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        throw Error(at + ": expected \"left right\" (two tokens and one space), got \"" + s + "\"");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      throw Error(at + ": expected \"left right\" or [\"left\", \"right\"], got " + m.dump().substr(0, 100));
    }
    const auto ia = vocab_.find(a), ib = vocab_.find(b);
    if (ia == vocab_.end() || ib == vocab_.end())
      throw Error(at + ": token \"" + (ia == vocab_.end() ? a : b) + "\" is not in the vocabulary");
    if (b.size() < prefix_.size()) throw Error(at + ": \"" + b + "\" is shorter than continuing_subword_prefix");
    const std::string merged = a + b.substr(prefix_.size());
    const auto im = vocab_.find(merged);
    if (im == vocab_.end()) throw Error(at + ": the merged token \"" + merged + "\" is not in the vocabulary");
    merges_[pair_key(ia->second, ib->second)] = {rank++, im->second};  // a repeated pair keeps its last rank
  }
}

std::optional<uint32_t> BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(uint32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

void BpeModel::tokenize(std::string_view word, std::vector<uint32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_)
    if (const auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  const bool cacheable = word.size() <= kCacheMaxWordBytes;
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (const auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  merge_word(word, out);
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() < kCacheEntries) cache_.emplace(std::string(word), std::vector<uint32_t>(out.begin() + first, out.end()));
  }
}

void BpeModel::merge_word(std::string_view w, std::vector<uint32_t>& out) const {
  struct Symbol {
    uint32_t id;
    int32_t prev, next;
    bool removed;
  };
  thread_local std::vector<Symbol> sym;
  sym.clear();
  auto add = [&](uint32_t id) {
    const auto n = static_cast<int32_t>(sym.size());
    sym.push_back({id, n - 1, n + 1, false});
  };
  int64_t pending_unk = -1;  // an unknown run not added yet (fuse_unk joins consecutive ones)
  std::string s;
  for (size_t i = 0; i < w.size();) {
    const size_t begin = i;
    i += char_len(static_cast<unsigned char>(w[i]));
    std::string_view ch = w.substr(begin, i - begin);
    const bool first = begin == 0, last = i >= w.size();
    if ((!first && !prefix_.empty()) || (last && !suffix_.empty())) {
      s.assign(first ? "" : prefix_);
      s.append(ch);
      if (last) s.append(suffix_);
      ch = s;
    }
    if (const auto it = vocab_.find(ch); it != vocab_.end()) {
      if (pending_unk >= 0) add(static_cast<uint32_t>(pending_unk)), pending_unk = -1;
      add(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (const char c : ch) all = all && byte_ids_[static_cast<uint8_t>(c)] >= 0;
      if (all) {  // tokenizers adds the bytes before a pending unknown run
        for (const char c : ch) add(static_cast<uint32_t>(byte_ids_[static_cast<uint8_t>(c)]));
        continue;
      }
    }
    if (!unk_missing_.empty()) throw Error(unk_missing_);
    if (unk_id_) {
      if (pending_unk >= 0 && !fuse_unk_) add(static_cast<uint32_t>(pending_unk));
      pending_unk = *unk_id_;
    }
    // Without unk_token an unknown character is dropped, as in tokenizers.
  }
  if (pending_unk >= 0) add(static_cast<uint32_t>(pending_unk));
  if (sym.empty()) return;
  sym.back().next = -1;

  // Lowest rank first, then leftmost (tokenizers' Word::merge_all); entries whose pair changed are skipped.
  struct Entry {
    uint32_t rank, pos, new_id;
    bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<Entry> heap_storage;
  heap_storage.clear();
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue(std::greater<Entry>{},
                                                                           std::move(heap_storage));
  auto push_pair = [&](int32_t pos) {
    if (pos < 0 || sym[pos].next < 0) return;
    const auto it = merges_.find(pair_key(sym[pos].id, sym[sym[pos].next].id));
    if (it != merges_.end()) queue.push({it->second.first, static_cast<uint32_t>(pos), it->second.second});
  };
  for (int32_t p = 0; p + 1 < static_cast<int32_t>(sym.size()); ++p) push_pair(p);
  while (!queue.empty()) {
    const Entry top = queue.top();
    queue.pop();
    Symbol& left = sym[top.pos];
    if (left.removed || left.next < 0) continue;
    const int32_t rpos = left.next;
    const auto it = merges_.find(pair_key(left.id, sym[rpos].id));
    if (it == merges_.end() || it->second.second != top.new_id) continue;  // stale entry
    left.id = top.new_id;
    left.next = sym[rpos].next;
    sym[rpos].removed = true;
    if (left.next >= 0) sym[left.next].prev = static_cast<int32_t>(top.pos);
    push_pair(left.prev);
    push_pair(static_cast<int32_t>(top.pos));
  }
  for (const auto& x : sym)
    if (!x.removed) out.push_back(x.id);
}

}  // namespace fp4gptq::tokenizer
