#include "tokenizer/decoders.hpp"

#include "fp4gptq/error.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/json_fields.hpp"
#include "tokenizer/pattern.hpp"
#include "tokenizer/pre_tokenizers.hpp"
#include "tokenizer/unicode.hpp"

namespace fp4gptq::tokenizer {

namespace {

// Byte-level characters back to bytes (a token with a character outside the alphabet stays as it is), then
// the bytes as UTF-8 with U+FFFD for ill-formed parts: one string.
class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      const size_t mark = bytes.size();
      bool ok = true;
      for (size_t i = 0; i < t.size() && ok;) {
        const int b = char_to_byte(next_char(t, i));
        if (b < 0)
          ok = false;
        else
          bytes.push_back(static_cast<char>(b));
      }
      if (!ok) bytes.replace(mark, std::string::npos, t);
    }
    tokens.assign(1, from_utf8_lossy(bytes));
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, PrependScheme scheme) : rep_(replacement), scheme_(scheme) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t k = 0; k < tokens.size(); ++k) {
      std::string out;
      const auto& t = tokens[k];
      for (size_t i = 0; i < t.size();) {
        const size_t b = i;
        const char32_t c = next_char(t, i);
        if (c != rep_)
          out.append(t, b, i - b);
        else if (k != 0 || scheme_ == PrependScheme::Never)  // tokenizers drops every one in the first token
          out.push_back(' ');
      }
      tokens[k] = std::move(out);
    }
  }

 private:
  char32_t rep_;
  PrependScheme scheme_;
};

// Runs of <0xXX> tokens become their bytes when those are UTF-8, else one U+FFFD per byte.
class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string run;
    size_t run_len = 0;
    auto flush = [&] {
      if (!run_len) return;
      if (find_invalid_utf8(run) == std::string::npos) {
        out.push_back(run);
      } else {
        for (size_t i = 0; i < run_len; ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      run.clear();
      run_len = 0;
    };
    for (auto& t : tokens) {
      if (t.size() == 6 && t.starts_with("<0x") && t.back() == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
          std::isxdigit(static_cast<unsigned char>(t[4]))) {
        run.push_back(static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
        ++run_len;
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens = std::move(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Up to `start` leading and `stop` trailing `content` characters removed from each token.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, int64_t start, int64_t stop) : c_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::vector<size_t> at;  // byte offset of each character, and the end
      for (size_t i = 0; i < t.size(); next_char(t, i)) at.push_back(i);
      at.push_back(t.size());
      const size_t n = at.size() - 1;
      auto char_at = [&](size_t k) {
        size_t i = at[k];
        return next_char(t, i);
      };
      size_t b = 0, e = n;
      for (size_t k = 0; k < n && k < static_cast<size_t>(start_) && char_at(k) == c_; ++k) b = k + 1;
      for (size_t k = 0; k < static_cast<size_t>(stop_) && k < n && char_at(n - 1 - k) == c_; ++k) e = n - 1 - k;
      t = b < e ? t.substr(at[b], at[e] - at[b]) : std::string();
    }
  }

 private:
  char32_t c_;
  int64_t start_, stop_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::unique_ptr<Pattern> p, std::string content) : p_(std::move(p)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) t = replace_all(t, *p_, content_);
  }

 private:
  std::unique_ptr<Pattern> p_;
  std::string content_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace")
    return std::make_unique<MetaspaceDecoder>(metaspace_replacement(j, where), metaspace_scheme(j, where));
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    const int64_t start = int_field(j, "start", where), stop = int_field(j, "stop", where);
    if (start < 0 || stop < 0) throw Error(where + ": start and stop must be >= 0");
    return std::make_unique<StripDecoder>(char_field(j, "content", where), start, stop);
  }
  if (type == "Replace")
    return std::make_unique<ReplaceDecoder>(make_pattern(field(j, "pattern", where), where + ".pattern"),
                                            string_field(j, "content", where));
  if (type == "Sequence")
    return std::make_unique<SequenceDecoder>(component_list<Decoder>(j, "decoders", where, make_decoder));
  unsupported("decoder", type, "ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence", where);
}

}  // namespace fp4gptq::tokenizer
