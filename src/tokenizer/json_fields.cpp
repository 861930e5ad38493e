#include "tokenizer/json_fields.hpp"

#include "fp4gptq/error.hpp"
#include "tokenizer/unicode.hpp"

namespace fp4gptq::tokenizer {

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected an object, got " + j.type_name());
  const auto it = j.find(key);
  if (it == j.end()) throw Error(where + ": missing field \"" + key + "\"");
  return *it;
}

std::string string_field(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto& v = field(j, key, where);
  if (!v.is_string()) throw Error(where + "." + key + ": expected a string, got " + v.type_name());
  return v.get<std::string>();
}

std::string string_or(const nlohmann::json& j, const char* key, const std::string& fallback, const std::string& where) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
  return string_field(j, key, where);
}

bool bool_or(const nlohmann::json& j, const char* key, bool fallback, const std::string& where) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
  const auto& v = j[key];
  if (!v.is_boolean()) throw Error(where + "." + key + ": expected true or false, got " + v.dump());
  return v.get<bool>();
}

int64_t int_field(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto& v = field(j, key, where);
  if (!v.is_number_integer()) throw Error(where + "." + key + ": expected an integer, got " + v.dump());
  return v.get<int64_t>();
}

char32_t char_field(const nlohmann::json& j, const char* key, const std::string& where) {
  const std::string s = string_field(j, key, where);
  size_t i = 0;
  if (s.empty() || find_invalid_utf8(s) != std::string::npos || (next_char(s, i), i != s.size()))
    throw Error(where + "." + key + ": expected one character, got \"" + s + "\"");
  i = 0;
  return next_char(s, i);
}

void throw_not_a_list(const std::string& where) { throw Error(where + ": expected a list"); }

std::string type_of(const nlohmann::json& j, const std::string& where) { return string_field(j, "type", where); }

void unsupported(const std::string& kind, const std::string& type, const std::string& supported,
                 const std::string& where) {
  throw Error(where + ": unsupported " + kind + " type \"" + type + "\" (fp4gptq supports " + supported +
              "; anything else would give different token ids than the tokenizers library)");
}

}  // namespace fp4gptq::tokenizer
