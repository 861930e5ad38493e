#pragma once
// Typed access to the fields of a tokenizer.json component; every error names the file and the component's
// path in it ("tokenizer.json: pre_tokenizer.pretokenizers[1].pattern").
#include <nlohmann/json.hpp>
#include <memory>
#include <string>
#include <vector>

namespace fp4gptq::tokenizer {

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& where);
std::string string_field(const nlohmann::json& j, const char* key, const std::string& where);
std::string string_or(const nlohmann::json& j, const char* key, const std::string& fallback, const std::string& where);
bool bool_or(const nlohmann::json& j, const char* key, bool fallback, const std::string& where);
int64_t int_field(const nlohmann::json& j, const char* key, const std::string& where);
// A string field holding exactly one character.
char32_t char_field(const nlohmann::json& j, const char* key, const std::string& where);
[[noreturn]] void throw_not_a_list(const std::string& where);

// The components listed in j[key] (a Sequence's parts), each built by make(item, "<where>.key[i]"); null ones
// (nullptr) are left out.
template <typename T, typename Make>
std::vector<std::unique_ptr<T>> component_list(const nlohmann::json& j, const char* key, const std::string& where,
                                               Make&& make) {
  const auto& list = field(j, key, where);
  if (!list.is_array()) throw_not_a_list(where + "." + key);
  std::vector<std::unique_ptr<T>> parts;
  for (size_t i = 0; i < list.size(); ++i)
    if (auto p = make(list[i], where + "." + key + "[" + std::to_string(i) + "]")) parts.push_back(std::move(p));
  return parts;
}

// The component's "type".
std::string type_of(const nlohmann::json& j, const std::string& where);
// "<where>: unsupported <kind> type \"T\" (supported: ...)".
[[noreturn]] void unsupported(const std::string& kind, const std::string& type, const std::string& supported,
                              const std::string& where);

}  // namespace fp4gptq::tokenizer
