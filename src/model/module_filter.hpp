#pragma once
// --exclude REGEX (repeatable): PCRE2 patterns searched anywhere in a module name
// (e.g. "model.layers.0.mlp.down_proj"); anchor with ^...$ for an exact match.
#include <memory>
#include <string>
#include <vector>

namespace fp4gptq::model {

class ModuleFilter {
 public:
  ModuleFilter() = default;
  explicit ModuleFilter(const std::vector<std::string>& patterns);  // throws naming a pattern that doesn't compile
  // The first pattern that matches `module`, or nullptr.
  const std::string* match(const std::string& module) const;
  bool empty() const { return patterns_.empty(); }

 private:
  struct Compiled;
  std::vector<std::string> patterns_;
  std::vector<std::shared_ptr<Compiled>> compiled_;
};

}  // namespace fp4gptq::model
