#include "tokenizer/post_processors.hpp"

#include "fp4gptq/error.hpp"
#include "tokenizer/json_fields.hpp"

namespace fp4gptq::tokenizer {

namespace {

class Around final : public PostProcessor {
 public:
  Around(std::vector<uint32_t> before, std::vector<uint32_t> after) : before_(std::move(before)), after_(std::move(after)) {}
  void process(std::vector<uint32_t>& ids) const override {
    ids.insert(ids.begin(), before_.begin(), before_.end());
    ids.insert(ids.end(), after_.begin(), after_.end());
  }
  void specials(std::vector<uint32_t>& before, std::vector<uint32_t>& after) const override {
    before.insert(before.end(), before_.begin(), before_.end());
    after.insert(after.begin(), after_.begin(), after_.end());
  }

 private:
  std::vector<uint32_t> before_, after_;
};

class Sequence final : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void process(std::vector<uint32_t>& ids) const override {
    for (const auto& p : parts_) p->process(ids);
  }
  void specials(std::vector<uint32_t>& before, std::vector<uint32_t>& after) const override {
    // Each later processor wraps the result of the earlier ones.
    for (const auto& p : parts_) {
      std::vector<uint32_t> b, a;
      p->specials(b, a);
      before.insert(before.begin(), b.begin(), b.end());
      after.insert(after.end(), a.begin(), a.end());
    }
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

// TemplateProcessing's "single": [{"SpecialToken": {"id": name}} | {"Sequence": {"id": "A"}}, ...], the special
// tokens' ids from "special_tokens": {name: {"ids": [...]}}.
std::unique_ptr<PostProcessor> parse_template(const nlohmann::json& j, const std::string& where) {
  const auto& single = field(j, "single", where);
  const auto& specials = field(j, "special_tokens", where);
  if (!single.is_array()) throw Error(where + ".single: expected a list (the template as pieces)");
  std::vector<uint32_t> before, after;
  int sequences = 0;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string at = where + ".single[" + std::to_string(i) + "]";
    const auto& item = single[i];
    if (item.is_object() && item.contains("Sequence")) {
      const std::string id = string_field(item["Sequence"], "id", at + ".Sequence");
      if (id != "A") throw Error(at + ": a single-sequence template can only hold sequence \"A\", got \"" + id + "\"");
      ++sequences;
      continue;
    }
    if (!item.is_object() || !item.contains("SpecialToken"))
      throw Error(at + ": expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    const std::string name = string_field(item["SpecialToken"], "id", at + ".SpecialToken");
    if (!specials.is_object() || !specials.contains(name))
      throw Error(at + ": special token \"" + name + "\" is not in " + where + ".special_tokens");
    const auto& ids = field(specials[name], "ids", where + ".special_tokens." + name);
    if (!ids.is_array()) throw Error(where + ".special_tokens." + name + ".ids: expected a list");
    for (const auto& id : ids) {
      if (!id.is_number_unsigned() || id.get<uint64_t>() > 0x7FFFFFFF)
        throw Error(where + ".special_tokens." + name + ".ids: expected token ids, got " + id.dump());
      (sequences ? after : before).push_back(id.get<uint32_t>());
    }
  }
  if (sequences != 1) throw Error(where + ".single: expected the sequence \"A\" exactly once");
  return template_processor(std::move(before), std::move(after));
}

// Bert/RobertaProcessing: "cls": [token, id], "sep": [token, id].
uint32_t pair_id(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto& v = field(j, key, where);
  if (!v.is_array() || v.size() != 2 || !v[1].is_number_unsigned() || v[1].get<uint64_t>() > 0x7FFFFFFF)
    throw Error(where + "." + key + ": expected [token, id] with an id in [0, 2^31)");
  return v[1].get<uint32_t>();
}

}  // namespace

std::unique_ptr<PostProcessor> template_processor(std::vector<uint32_t> before, std::vector<uint32_t> after) {
  return std::make_unique<Around>(std::move(before), std::move(after));
}

std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "TemplateProcessing") return parse_template(j, where);
  if (type == "ByteLevel") return template_processor({}, {});
  if (type == "BertProcessing" || type == "RobertaProcessing")
    return template_processor({pair_id(j, "cls", where)}, {pair_id(j, "sep", where)});
  if (type == "Sequence")
    return std::make_unique<Sequence>(component_list<PostProcessor>(j, "processors", where, make_post_processor));
  unsupported("post_processor", type, "TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, Sequence",
              where);
}

}  // namespace fp4gptq::tokenizer
