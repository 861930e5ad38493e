#include "tokenizer/special_tokens.hpp"

#include <algorithm>
#include <set>

#include "fp4gptq/error.hpp"
#include "io/json_file.hpp"
#include "tokenizer/post_processors.hpp"

namespace fp4gptq::tokenizer {

namespace {

// The transformers classes whose fast tokenizer rebuilds the post-processor (update_post_processor).
const std::set<std::string> kRebuildingClasses = {"LlamaTokenizer",     "LlamaTokenizerFast",
                                                  "CodeLlamaTokenizer", "CodeLlamaTokenizerFast",
                                                  "GemmaTokenizer",     "GemmaTokenizerFast"};

// tokenizer_config.json's bos_token/eos_token: a string, {"content": ...} (an AddedToken), or null.
std::optional<uint32_t> config_token(const Tokenizer& t, const nlohmann::ordered_json& cfg, const char* key,
                                     const std::string& where) {
  if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
  const auto& v = cfg[key];
  std::string content;
  if (v.is_string())
    content = v.get<std::string>();
  else if (v.is_object() && v.contains("content") && v["content"].is_string())
    content = v["content"].get<std::string>();
  else
    throw Error(where + ": " + key + ": expected a token string or {\"content\": ...}, got " + v.dump());
  const auto id = t.token_to_id(content);
  if (!id) throw Error(where + ": " + key + " \"" + content + "\" is not in the vocabulary of " + t.source());
  return id;
}

bool config_bool(const nlohmann::ordered_json& cfg, const char* key, bool fallback, const std::string& where) {
  if (!cfg.contains(key) || cfg[key].is_null()) return fallback;
  if (!cfg[key].is_boolean()) throw Error(where + ": " + key + ": expected true or false, got " + cfg[key].dump());
  return cfg[key].get<bool>();
}

}  // namespace

BosPolicy parse_bos_policy(const std::string& name) {
  if (name == "file") return BosPolicy::File;
  if (name == "auto") return BosPolicy::Auto;
  if (name == "always") return BosPolicy::Always;
  if (name == "never") return BosPolicy::Never;
  throw Error("BOS policy: expected file, auto, always or never, got \"" + name + "\"");
}

const char* bos_policy_name(BosPolicy p) {
  switch (p) {
    case BosPolicy::File: return "file";
    case BosPolicy::Auto: return "auto";
    case BosPolicy::Always: return "always";
    case BosPolicy::Never: return "never";
  }
  return "?";
}

void apply_bos_policy(Tokenizer& t, BosPolicy policy, const std::filesystem::path& config_path) {
  if (policy == BosPolicy::File) return;
  const std::string where = config_path.string();
  nlohmann::ordered_json cfg = nlohmann::ordered_json::object();
  if (std::filesystem::exists(config_path)) {
    cfg = io::read_json(config_path);
    if (!cfg.is_object()) throw Error(where + ": expected a JSON object");
  } else if (policy != BosPolicy::Never) {
    throw Error(where + ": missing; the BOS policy \"" + std::string(bos_policy_name(policy)) + "\" needs tokenizer_config.json (bos_token)");
  }
  std::vector<uint32_t> before, after;
  t.special_ids(before, after);
  const auto bos = config_token(t, cfg, "bos_token", where);
  switch (policy) {
    case BosPolicy::File: return;
    case BosPolicy::Auto: {
      const std::string cls = cfg.contains("tokenizer_class") && cfg["tokenizer_class"].is_string()
                                  ? cfg["tokenizer_class"].get<std::string>()
                                  : "";
      if (!kRebuildingClasses.count(cls)) return;  // transformers keeps the file's post-processor
      before.clear();
      after.clear();
      if (config_bool(cfg, "add_bos_token", true, where)) {
        if (!bos) throw Error(where + ": add_bos_token is true but there is no bos_token");
        before.push_back(*bos);
      }
      if (config_bool(cfg, "add_eos_token", false, where)) {
        const auto eos = config_token(t, cfg, "eos_token", where);
        if (!eos) throw Error(where + ": add_eos_token is true but there is no eos_token");
        after.push_back(*eos);
      }
      break;
    }
    case BosPolicy::Always:
      if (!bos) throw Error(where + ": the BOS policy \"always\" needs a bos_token");
      if (before.empty() || before.front() != *bos) before.insert(before.begin(), *bos);
      break;
    case BosPolicy::Never: {
      // The BOS: tokenizer_config's bos_token, else the first token the post-processor puts first.
      const std::optional<uint32_t> drop = bos ? bos : before.empty() ? std::nullopt : std::optional(before.front());
      if (drop && !before.empty() && before.front() == *drop) before.erase(before.begin());
      break;
    }
  }
  t.set_post_processor(template_processor(std::move(before), std::move(after)));
}

Tokenizer load_tokenizer(const std::filesystem::path& path, BosPolicy policy) {
  const bool dir = std::filesystem::is_directory(path);
  const auto file = dir ? path / "tokenizer.json" : path;
  if (!std::filesystem::exists(file))
    throw Error(file.string() + ": missing (a Hugging Face tokenizer.json is needed to read text; token-id JSONL "
                                "needs none)",
                ErrorKind::MissingFile);
  Tokenizer t = Tokenizer::from_file(file);
  apply_bos_policy(t, policy, file.parent_path() / "tokenizer_config.json");
  return t;
}

}  // namespace fp4gptq::tokenizer
