#include "io/json_file.hpp"

#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "fp4gptq/error.hpp"
#include "io/error_kind.hpp"

namespace fp4gptq::io {

namespace {

// SAX pass that builds nothing and stops at the first bound exceeded, remembering which top-level field (or
// array element) it was in.
class Bounds final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit Bounds(const JsonLimits& l) : l_(l) {}
  std::optional<std::string> problem;
  std::string syntax_error;

  bool null() override { return item(); }
  bool boolean(bool) override { return item(); }
  bool number_integer(number_integer_t) override { return item(); }
  bool number_unsigned(number_unsigned_t) override { return item(); }
  bool number_float(number_float_t, const string_t&) override { return item(); }
  bool string(string_t&) override { return item(); }
  bool binary(binary_t&) override { return item(); }
  bool start_object(std::size_t) override { return open(false); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    if (levels_.size() == 1) top_ = "field '" + k + "'";
    if (++levels_.back().count > l_.max_object_keys)
      return fail("an object with more than " + std::to_string(l_.max_object_keys) + " keys");
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    syntax_error = e.what();
    return false;
  }

 private:
  struct Level {
    bool array;
    uint64_t count = 0;  // keys of an object, elements of an array
  };
  bool item() {  // a value starts: count it when it is an array element
    if (levels_.empty() || !levels_.back().array) return true;
    if (levels_.size() == 1) top_ = "element " + std::to_string(levels_.back().count);
    if (++levels_.back().count > l_.max_array_items)
      return fail("an array with more than " + std::to_string(l_.max_array_items) + " elements");
    return true;
  }
  bool open(bool array) {
    if (!item()) return false;
    if (static_cast<int>(levels_.size()) >= l_.max_depth)
      return fail("nesting deeper than " + std::to_string(l_.max_depth) + " levels");
    levels_.push_back({array});
    return true;
  }
  bool close() {
    levels_.pop_back();
    return true;
  }
  bool fail(const std::string& what) {
    problem = (top_.empty() ? "" : top_ + ": ") + what;
    return false;
  }

  const JsonLimits& l_;
  std::vector<Level> levels_;
  std::string top_;
};

void check_bounds(std::string_view text, const std::string& source, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes)
    throw Error(source + ": " + std::to_string(text.size()) + " bytes of JSON exceed the limit of " +
                std::to_string(limits.max_bytes));
  Bounds b(limits);
  const bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &b, nlohmann::json::input_format_t::json,
                                            /*strict=*/true);
  if (ok) return;
  if (b.problem) throw Error(source + ": " + *b.problem + " (refused)");
  throw Error(source + ": not valid JSON: " + b.syntax_error);
}

template <typename Json>
Json parse_bounded(std::string_view text, const std::string& source, const JsonLimits& limits) {
  check_bounds(text, source, limits);
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw Error(source + ": not valid JSON: " + e.what());
  }
}

std::string read_file(const std::filesystem::path& path, const JsonLimits& limits) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > limits.max_bytes)
    throw Error(path.string() + ": " + std::to_string(size) + " bytes exceed the limit of " +
                std::to_string(limits.max_bytes) + " for this JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open (missing or unreadable)", open_error_kind(path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

nlohmann::ordered_json parse_json(std::string_view text, const std::string& source, const JsonLimits& limits) {
  return parse_bounded<nlohmann::ordered_json>(text, source, limits);
}

nlohmann::json parse_json_unordered(std::string_view text, const std::string& source, const JsonLimits& limits) {
  return parse_bounded<nlohmann::json>(text, source, limits);
}

nlohmann::ordered_json read_json(const std::filesystem::path& path, const JsonLimits& limits) {
  return parse_json(read_file(path, limits), path.string(), limits);
}

nlohmann::json read_json_unordered(const std::filesystem::path& path, const JsonLimits& limits) {
  return parse_json_unordered(read_file(path, limits), path.string(), limits);
}

void write_json(const std::filesystem::path& path, const nlohmann::ordered_json& j) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path.string() + ": cannot create", ErrorKind::Internal);
  out << j.dump(2) << "\n";
  if (!out) throw Error(path.string() + ": write failed", ErrorKind::Internal);
}

}  // namespace fp4gptq::io
