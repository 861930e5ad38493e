#include "model/module_filter.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "fp4gptq/error.hpp"

namespace fp4gptq::model {

struct ModuleFilter::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

ModuleFilter::ModuleFilter(const std::vector<std::string>& patterns) : patterns_(patterns) {
  for (const auto& p : patterns) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    auto c = std::make_shared<Compiled>();
    c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(), 0, &err, &offset, nullptr);
    if (!c->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw Error("exclude pattern '" + p + "': invalid regular expression at offset " + std::to_string(offset) + ": " +
                  reinterpret_cast<const char*>(msg));
    }
    compiled_.push_back(std::move(c));
  }
}

const std::string* ModuleFilter::match(const std::string& module) const {
  for (size_t i = 0; i < compiled_.size(); ++i) {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(compiled_[i]->code, nullptr);
    const int rc =
        pcre2_match(compiled_[i]->code, reinterpret_cast<PCRE2_SPTR>(module.data()), module.size(), 0, 0, md, nullptr);
    pcre2_match_data_free(md);
    if (rc >= 0) return &patterns_[i];
  }
  return nullptr;
}

}  // namespace fp4gptq::model
