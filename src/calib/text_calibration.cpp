#include "calib/text_calibration.hpp"

#include <algorithm>
#include <fstream>
#include <numeric>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "fp4gptq/error.hpp"
#include "io/error_kind.hpp"
#include "io/json_file.hpp"
#include "tokenizer/unicode.hpp"

namespace fp4gptq::calib {

namespace {

// One JSONL line: {"text": ...} and a few other fields.
constexpr io::JsonLimits kLineLimits{kMaxLineBytes, 16, 4096, 1ull << 28};

bool blank(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }

// The documents of a text JSONL, read a line at a time on demand: one pass records where each non-blank line
// starts, so a file larger than memory (a C4 shard) can be sampled.
class JsonlDocuments {
 public:
  JsonlDocuments(const std::filesystem::path& path, std::string field) : path_(path), field_(std::move(field)), in_(path, std::ios::binary) {
    if (!in_) throw Error(path.string() + ": cannot open", io::open_error_kind(path));
    std::string line;
    int64_t lineno = 0;
    for (;;) {
      const auto at = static_cast<uint64_t>(in_.tellg());
      if (!read_line(in_, line, kMaxLineBytes, [&] { return where(lineno + 1); })) break;
      ++lineno;
      if (blank(line)) continue;
      offsets_.push_back(at);
      lines_.push_back(lineno);
    }
    in_.clear();
  }
  size_t size() const { return offsets_.size(); }
  int64_t line(size_t k) const { return lines_[k]; }
  std::string where(int64_t lineno) const { return path_.string() + ":" + std::to_string(lineno); }

  // Document k's text, checked: valid UTF-8 (the offset counted in the file), a JSON object, the field a string.
  std::string text(size_t k) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offsets_[k]));
    std::string line;
    read_line(in_, line, kMaxLineBytes, [&] { return where(lines_[k]); });
    return parse(line, where(lines_[k]), offsets_[k]);
  }

  // The text of one line (also used for the first line, to tell the file's kind).
  std::string parse(const std::string& line, const std::string& where, uint64_t offset) const {
    tokenizer::check_utf8(line, path_.string(), offset);
    const auto j = io::parse_json_unordered(line, where, kLineLimits);
    if (!j.is_object() || !j.contains(field_))
      throw Error(where + ": expected an object with a \"" + field_ + "\" string field (the text field can be named)");
    if (!j[field_].is_string())
      throw Error(where + ": \"" + field_ + "\" must be a string, got " + std::string(j[field_].type_name()));
    return j[field_].get<std::string>();
  }

 private:
  std::filesystem::path path_;
  std::string field_;
  std::ifstream in_;
  std::vector<uint64_t> offsets_;
  std::vector<int64_t> lines_;
};

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open", io::open_error_kind(path));
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  tokenizer::check_utf8(s, path.string());
  return s;
}

bool is_txt(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".txt";
}

std::vector<int32_t> encode_checked(const tokenizer::Tokenizer& tok, const std::string& text, int64_t vocab_size,
                                    const std::string& where) {
  const auto ids = tok.encode(text, true, where);
  std::vector<int32_t> out(ids.begin(), ids.end());
  for (const int32_t id : out)
    if (id < 0 || id >= vocab_size)
      throw Error(where + ": " + tok.source() + " gave token id " + std::to_string(id) +
                  ", outside the model's vocabulary [0, " + std::to_string(vocab_size) +
                  ") (is this the model's own tokenizer?)");
  return out;
}

void append_window(CalibrationSet& set, const std::vector<int32_t>& ids, int64_t seqlen, int64_t line,
                   std::mt19937_64& rng) {
  // GPTQ's loaders: i = randint(0, len - seqlen - 1), the window ids[i, i + seqlen).
  const auto start = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(ids.size()) - seqlen));
  set.samples.emplace_back(ids.begin() + start, ids.begin() + start + seqlen);
  set.lines.push_back(line);
}

}  // namespace

uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  if (n <= 1) return 0;
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // accept draws below a multiple of n
  for (;;) {
    const uint64_t x = rng();
    if (x < limit) return x % n;
  }
}

FileKind detect_kind(const std::filesystem::path& path, const std::string& text_field) {
  if (is_txt(path)) return FileKind::PlainText;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open", io::open_error_kind(path));
  std::string line;
  int64_t lineno = 0;
  uint64_t offset = 0;
  while (read_line(in, line, kMaxLineBytes, [&] { return path.string() + ":" + std::to_string(lineno + 1); })) {
    ++lineno;
    if (blank(line)) {
      offset += line.size() + 1;
      continue;
    }
    tokenizer::check_utf8(line, path.string(), offset);
    const auto j = io::parse_json_unordered(line, path.string() + ":" + std::to_string(lineno), kLineLimits);
    if (j.is_object() && j.contains("input_ids")) return FileKind::TokenIds;
    if (j.is_object() && j.contains(text_field)) return FileKind::TextJsonl;
    throw Error(path.string() + ":" + std::to_string(lineno) + ": expected {\"input_ids\": [...]} (token ids) or {\"" +
                text_field + "\": \"...\"} (text, in a field that can be named), or a .txt file of plain text");
  }
  throw Error(path.string() + ": no data (the file is empty)");
}

CalibrationSet load_text_calibration(const std::filesystem::path& path, const tokenizer::Tokenizer& tok,
                                     int64_t vocab_size, const TextOptions& o, TextStats* stats) {
  if (o.nsamples < 0) throw Error("calibration: nsamples must be >= 0, got " + std::to_string(o.nsamples));
  if (o.seqlen < 0) throw Error("calibration: seqlen must be >= 0, got " + std::to_string(o.seqlen));
  if (detect_kind(path, o.text_field) == FileKind::TokenIds)
    throw Error(path.string() + ": holds token ids (\"input_ids\"), not text; read it as token-id calibration");
  const bool txt = is_txt(path);
  const TextMode mode = o.mode != TextMode::Auto ? o.mode : txt ? TextMode::Windows : TextMode::Documents;
  TextStats st;
  st.mode = mode;
  CalibrationSet set;

  if (mode == TextMode::Windows) {
    if (o.nsamples <= 0 || o.seqlen <= 0)
      throw Error("calibration: windows mode needs nsamples > 0 and seqlen > 0 (got " +
                  std::to_string(o.nsamples) + ", " + std::to_string(o.seqlen) + ")");
    std::mt19937_64 rng(o.seed.value_or(0));
    if (txt) {  // wikitext: the whole text one stream
      st.documents = 1;
      const auto ids = encode_checked(tok, read_text_file(path), vocab_size, path.string());
      if (static_cast<int64_t>(ids.size()) <= o.seqlen)
        throw Error(path.string() + ": " + std::to_string(ids.size()) + " tokens, not more than seqlen " +
                    std::to_string(o.seqlen) + ": no window fits");
      for (int64_t k = 0; k < o.nsamples; ++k) append_window(set, ids, o.seqlen, 1, rng);
    } else {  // C4: a random document long enough for each window
      JsonlDocuments docs(path, o.text_field);
      st.documents = static_cast<int64_t>(docs.size());
      if (docs.size() == 0) throw Error(path.string() + ": no documents (the file is empty)");
      std::unordered_map<size_t, std::vector<int32_t>> long_docs;
      std::unordered_set<size_t> short_docs;
      for (int64_t k = 0; k < o.nsamples; ++k) {
        for (;;) {
          if (short_docs.size() == docs.size())
            throw Error(path.string() + ": no document is longer than seqlen " + std::to_string(o.seqlen) +
                        " tokens (" + std::to_string(docs.size()) + " documents)");
          const auto i = static_cast<size_t>(uniform_below(rng, docs.size()));
          if (short_docs.count(i)) continue;
          auto it = long_docs.find(i);
          if (it == long_docs.end()) {
            auto ids = encode_checked(tok, docs.text(i), vocab_size, docs.where(docs.line(i)));
            if (static_cast<int64_t>(ids.size()) <= o.seqlen) {
              short_docs.insert(i);
              continue;
            }
            it = long_docs.emplace(i, std::move(ids)).first;
          }
          append_window(set, it->second, o.seqlen, docs.line(i), rng);
          break;
        }
      }
      st.too_short = static_cast<int64_t>(short_docs.size());
    }
  } else {  // Documents: AutoGPTQ's examples
    std::vector<std::pair<int64_t, std::vector<int32_t>>> picked;  // (line, ids)
    auto take = [&](const std::string& text, int64_t line, const std::string& where) {
      auto ids = encode_checked(tok, text, vocab_size, where);
      if (ids.empty()) {
        ++st.too_short;
        return;
      }
      if (o.seqlen > 0 && static_cast<int64_t>(ids.size()) > o.seqlen) ids.resize(static_cast<size_t>(o.seqlen));
      picked.emplace_back(line, std::move(ids));
    };
    if (txt) {
      st.documents = 1;
      take(read_text_file(path), 1, path.string());
    } else {
      JsonlDocuments docs(path, o.text_field);
      st.documents = static_cast<int64_t>(docs.size());
      std::vector<size_t> order(docs.size());
      std::iota(order.begin(), order.end(), 0);
      if (o.seed) {  // seeded Fisher-Yates over all documents; the first nsamples non-empty ones are kept
        std::mt19937_64 rng(*o.seed);
        for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[uniform_below(rng, i)]);
      }
      for (const size_t k : order) {
        if (o.nsamples > 0 && static_cast<int64_t>(picked.size()) == o.nsamples) break;
        take(docs.text(k), docs.line(k), docs.where(docs.line(k)));
      }
      std::sort(picked.begin(), picked.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    if (picked.empty()) throw Error(path.string() + ": no document gives any token (all are empty)");
    for (auto& [line, ids] : picked) {
      set.samples.push_back(std::move(ids));
      set.lines.push_back(line);
    }
  }
  if (stats) *stats = st;
  return set;
}

void for_each_document(const std::filesystem::path& path, const std::string& text_field,
                       const std::function<void(const std::string& text, const std::string& where)>& f) {
  if (is_txt(path)) return f(read_text_file(path), path.string());
  JsonlDocuments docs(path, text_field);
  for (size_t k = 0; k < docs.size(); ++k) f(docs.text(k), docs.where(docs.line(k)));
}

std::vector<int32_t> text_stream(const std::filesystem::path& path, const tokenizer::Tokenizer& tok,
                                 int64_t vocab_size, const std::string& text_field) {
  std::string joined;
  int64_t n = 0;
  for_each_document(path, text_field, [&](const std::string& text, const std::string&) {
    if (n++) joined += "\n\n";
    joined += text;
  });
  if (n == 0) throw Error(path.string() + ": no documents (the file is empty)");
  return encode_checked(tok, joined, vocab_size, path.string());
}

}  // namespace fp4gptq::calib
