#include "calib/calibration.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "fp4gptq/error.hpp"
#include "io/error_kind.hpp"
#include "io/json_file.hpp"

namespace fp4gptq::calib {

namespace {

// input_ids may be flat [..] or one nested row [[..]] (a tokenizer's return_tensors output).
const nlohmann::json& flat_list(const nlohmann::json& v) {
  if (v.is_array() && v.size() == 1 && v[0].is_array()) return v[0];
  return v;
}

}  // namespace

bool read_line(std::istream& in, std::string& line, uint64_t max, const std::function<std::string()>& where) {
  line.clear();
  char buf[1 << 16];
  while (true) {
    in.getline(buf, sizeof buf);
    line.append(buf, static_cast<size_t>(in.gcount()) - (in.fail() || in.eof() ? 0 : 1));
    if (line.size() > max)
      throw Error(where() + ": line longer than " + std::to_string(max) + " bytes (refused)");
    if (in.fail() && !in.eof() && in.gcount() == static_cast<std::streamsize>(sizeof buf) - 1) {
      in.clear();  // buffer filled before the newline: keep reading this line
      continue;
    }
    return !line.empty() || !in.fail();
  }
}

int64_t CalibrationSet::tokens() const {
  int64_t n = 0;
  for (const auto& s : samples) n += static_cast<int64_t>(s.size());
  return n;
}

std::optional<std::vector<int32_t>> parse_sample_line(std::string_view line, int64_t vocab_size,
                                                      const std::string& source, bool allow_empty) {
  const std::string where = source + ": ";
  if (line.find_first_not_of(" \t\r") == std::string::npos) return std::nullopt;  // blank lines are skipped
  // {"input_ids": [[...]]} nests 3 deep; a few other keys (e.g. "text") are allowed and ignored.
  constexpr io::JsonLimits kLineLimits{kMaxLineBytes, 8, 1024, 1ull << 28};
  const auto j = io::parse_json_unordered(line, source, kLineLimits);
  if (!j.is_object() || !j.contains("input_ids"))
    throw Error(where + "expected an object with \"input_ids\" (and optionally \"attention_mask\")");
  const auto& ids = flat_list(j["input_ids"]);
  if (!ids.is_array()) throw Error(where + "\"input_ids\" must be a list of token ids");
  const nlohmann::json* mask = nullptr;
  if (j.contains("attention_mask") && !j["attention_mask"].is_null()) {
    mask = &flat_list(j["attention_mask"]);
    if (!mask->is_array() || mask->size() != ids.size())
      throw Error(where + "\"attention_mask\" must be a list as long as \"input_ids\" (" +
                  std::to_string(ids.size()) + ")");
  }
  std::vector<int32_t> sample;
  sample.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (mask) {
      const auto& m = (*mask)[i];
      if (!m.is_number_integer() || (m.get<int64_t>() != 0 && m.get<int64_t>() != 1))
        throw Error(where + "attention_mask values must be 0 or 1, got " + m.dump());
      if (m.get<int64_t>() == 0) continue;
    }
    const auto& id = ids[i];
    if (!id.is_number_integer())
      throw Error(where + "token id " + id.dump() + " at position " + std::to_string(i) + " is not an integer");
    const int64_t v = id.get<int64_t>();
    if (v < 0 || v >= vocab_size)
      throw Error(where + "token id " + std::to_string(v) + " at position " + std::to_string(i) +
                  " is outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
    sample.push_back(static_cast<int32_t>(v));
  }
  if (sample.empty() && !allow_empty)
    throw Error(where + "empty sample (no tokens" + std::string(mask ? " after attention_mask" : "") + ")");
  return sample;
}

CalibrationSet read_token_jsonl(const std::filesystem::path& path, int64_t vocab_size, bool allow_empty) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open the calibration file", io::open_error_kind(path));
  CalibrationSet set;
  std::string line;
  int64_t lineno = 0;
  while (read_line(in, line, kMaxLineBytes, [&] { return path.string() + ":" + std::to_string(lineno + 1); })) {
    ++lineno;
    auto sample = parse_sample_line(line, vocab_size, path.string() + ":" + std::to_string(lineno), allow_empty);
    if (!sample) continue;
    set.samples.push_back(std::move(*sample));
    set.lines.push_back(lineno);
  }
  if (set.samples.empty()) throw Error(path.string() + ": no samples (the file is empty)");
  return set;
}

CalibrationSet load_calibration(const std::filesystem::path& path, int64_t vocab_size, const CalibrationOptions& o) {
  if (o.nsamples < 0) throw Error("calibration: nsamples must be >= 0, got " + std::to_string(o.nsamples));
  if (o.seqlen < 0) throw Error("calibration: seqlen must be >= 0, got " + std::to_string(o.seqlen));
  CalibrationSet all = read_token_jsonl(path, vocab_size);
  const int64_t n = static_cast<int64_t>(all.samples.size());
  std::vector<int64_t> pick(static_cast<size_t>(n));
  std::iota(pick.begin(), pick.end(), 0);
  if (o.nsamples > 0 && o.nsamples < n) {
    if (o.seed) {
      // Seeded selection without replacement (partial Fisher-Yates), then back to file order.
      std::mt19937_64 rng(*o.seed);
      for (int64_t i = 0; i < o.nsamples; ++i) {
        std::uniform_int_distribution<int64_t> d(i, n - 1);
        std::swap(pick[i], pick[d(rng)]);
      }
      pick.resize(static_cast<size_t>(o.nsamples));
      std::sort(pick.begin(), pick.end());
    } else {
      pick.resize(static_cast<size_t>(o.nsamples));
    }
  }
  CalibrationSet out;
  for (const int64_t i : pick) {
    auto s = std::move(all.samples[i]);
    if (o.seqlen > 0 && static_cast<int64_t>(s.size()) > o.seqlen) s.resize(static_cast<size_t>(o.seqlen));
    out.samples.push_back(std::move(s));
    out.lines.push_back(all.lines[i]);
  }
  return out;
}

}  // namespace fp4gptq::calib
