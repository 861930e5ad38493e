#include <fmt/core.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/options.hpp"

namespace fp4gptq::cli {

namespace {

// One {"input_ids": [...]} line (or the text of one, with --decode) per document of `input`.
void tokenize_file(const Tokenizer& tok, const std::string& input, const TextOptions& t, bool add_special) {
  const std::string format = calibration_format(input, t.text_field);
  if (format == "token-ids")
    throw Error(input + ": holds token ids (\"input_ids\"); pass --decode to turn them into text");
  for_each_document(input, t.text_field, [&](const std::string& doc) {
    const nlohmann::json line = {{"input_ids", tok.encode(doc, add_special)}};
    std::cout << line.dump() << '\n';
  });
}

void decode_file(const Tokenizer& tok, const std::string& input, bool skip_special) {
  for (const auto& ids : read_token_ids(input, tok.vocab_size())) {
    const nlohmann::json line = {{"text", tok.decode(ids, skip_special)}};
    std::cout << line.dump() << '\n';
  }
}

}  // namespace

Subcommand add_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize",
                                 "Token ids of text with the model's tokenizer.json (the ids of the Hugging Face "
                                 "tokenizers library), or text of ids with --decode");
  auto model = std::make_shared<std::string>(), input = std::make_shared<std::string>();
  auto t = std::make_shared<TextOptions>();
  auto add_special = std::make_shared<bool>(false), decode = std::make_shared<bool>(false),
       skip_special = std::make_shared<bool>(false);
  cmd->add_option("--model", *model, "Model directory holding tokenizer.json (or --tokenizer)")->required();
  cmd->add_option("--input", *input,
                  "JSONL with a text field per line (--text-field), or plain UTF-8 text (.txt: one document); with "
                  "--decode, JSONL of {\"input_ids\": [...]}")
      ->required();
  cmd->add_flag("--add-special-tokens", *add_special, "Add the special tokens the tokenizer adds (--bos)");
  cmd->add_flag("--decode", *decode, "Ids to text: one {\"text\": ...} line per input line");
  cmd->add_flag("--skip-special-tokens", *skip_special, "With --decode: leave special tokens out of the text");
  add_text_options(cmd, *t);
  return {cmd, [=] {
            const auto tok = load_tokenizer(*t, *model);
            if (*decode)
              decode_file(tok, *input, *skip_special);
            else
              tokenize_file(tok, *input, *t, *add_special);
            std::cout.flush();
            if (!std::cout) throw Error("tokenize: writing the output failed");
          }};
}

}  // namespace fp4gptq::cli
