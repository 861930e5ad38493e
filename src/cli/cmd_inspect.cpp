#include <fmt/core.h>

#include <map>
#include <set>
#include <regex>

#include "cli/commands.hpp"
#include "io/checkpoint_writer.hpp"
#include "io/json_file.hpp"
#include "io/model_dir.hpp"
#include "model/layer_plan.hpp"

namespace fp4gptq::cli {

namespace {

// "model.layers.3.mlp.experts.17.up_proj" -> "mlp.experts.*.up_proj"
std::string short_name(const std::string& module) {
  static const std::regex layer(R"(^model\.layers\.\d+\.)"), expert(R"(experts\.\d+\.)");
  return std::regex_replace(std::regex_replace(module, layer, ""), expert, "experts.*.");
}

// One line per true-sequential group; equal layers are later collapsed by comparing these texts.
std::string describe_layer(const model::LayerPlan& l) {
  struct Entry {
    int count = 0, skipped = 0;
    std::string shape, reason;
  };
  std::map<int, std::map<std::string, Entry>> groups;  // group -> short name -> modules of that name
  for (const auto& m : l.linears) {
    auto& e = groups[static_cast<int>(m.group)][short_name(m.module)];
    ++e.count;
    e.shape = fmt::format("{}x{}", m.out, m.in);
    if (!m.quantize) {
      ++e.skipped;
      e.reason = m.skip_reason;
    }
  }
  std::string s;
  for (const auto& [g, mods] : groups) {
    s += fmt::format("    {:<12}", model::seq_group_name(static_cast<model::SeqGroup>(g)));
    for (const auto& [name, e] : mods) {
      s += fmt::format(" {}{} [{}]", name, e.count > 1 ? fmt::format(" x{}", e.count) : "", e.shape);
      if (e.skipped)
        s += fmt::format(" ({}not quantized: {})", e.count > 1 ? fmt::format("{} ", e.skipped) : "", e.reason);
    }
    s += "\n";
  }
  return s;
}

// What the directory holds: an original model, a pseudo-quantized checkpoint (quantize_config.json says so) or a
// packed NVFP4 one (config.json's quantization_config), with its quantization summary.
std::string describe_format(const io::ModelDir& dir, const model::ModelPlan& plan) {
  int64_t packed = 0, plain = 0;
  for (const auto& l : plan.layers)
    for (const auto& m : l.linears) (m.packed ? packed : plain) += 1;
  if (const auto p = model::packing_of(dir)) {
    const auto& q = dir.config().at("quantization_config");
    const bool w4a4 = *p == model::Packing::ModelOpt
                          ? q.value("quant_algo", "") == "NVFP4"
                          : q.contains("config_groups") && q.at("config_groups").contains("group_0") &&
                                q.at("config_groups").at("group_0").contains("input_activations") &&
                                !q.at("config_groups").at("group_0").at("input_activations").is_null();
    const auto ignore = q.value("ignore", nlohmann::ordered_json::array());
    return fmt::format("{} NVFP4 ({}): {} Linear modules packed, {} decoder-layer Linears unquantized, {} ignored "
                       "Linears (lm_head, routers, excluded); weights decode to {}",
                       *p == model::Packing::ModelOpt ? "modelopt" : "compressed-tensors nvfp4-pack-quantized",
                       w4a4 ? "W4A4" : "W4A16", packed, plain, ignore.size(),
                       numeric::dtype_name(model::decode_dtype(dir)));
  }
  const auto qc = dir.dir() / "quantize_config.json";
  if (std::filesystem::exists(qc)) {
    const auto j = io::read_json(qc);
    if (j.value("pseudo_quantized", false)) {
      const auto base = j.value("model_file_base_name", std::string(io::kModelFileBase));
      const auto scales = dir.dir() / (base + "_scales.safetensors");
      int64_t modules = 0;
      if (std::filesystem::exists(scales)) {
        const io::SafetensorsFile file(scales);  // alive through the loop (a temporary's tensors() would not be)
        for (const auto& t : file.tensors()) modules += t.name.ends_with(".per_block_scale");
      }
      return fmt::format("pseudo-quantized NVFP4 ({}): {} modules with block scales in {}{}", j.value("algorithm", "?"),
                         modules, scales.filename().string(),
                         std::filesystem::exists(scales) ? "" : " (missing: export needs it)");
    }
  }
  return "original weights (no NVFP4 quantization)";
}

}  // namespace

// Long: the report is printed in one pass, section by section.
Subcommand add_inspect(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("inspect", "Show a model's architecture, layer plan, tensors and what will be quantized");
  auto model = std::make_shared<std::string>();
  auto exclude = std::make_shared<std::vector<std::string>>();
  auto tensors = std::make_shared<bool>(false);
  cmd->add_option("--model", *model, "Hugging Face model directory")->required();
  cmd->add_option("--exclude", *exclude, "Leave modules matching this regex unquantized (repeatable)");
  cmd->add_flag("--tensors", *tensors, "List every tensor with dtype, shape and role");
  return {
      cmd, [=] {
        io::ModelDir dir(*model);
        const auto plan = model::plan_model(dir, model::ModuleFilter(*exclude));
        const auto& c = plan.config;

        fmt::print("model        {}\narchitecture {} (model_type {})\n", *model, c.architecture, c.model_type);
        fmt::print("sizes        {} layers, hidden {}, intermediate {}, heads {}/{} (q/kv), head_dim {}, vocab {}\n",
                   c.num_hidden_layers, c.hidden_size, c.intermediate_size, c.num_attention_heads,
                   c.num_key_value_heads, c.head_dim, c.vocab_size);
        fmt::print("attention    rope_theta {}, rope_scaling {}, rms_norm_eps {}, attention_bias {}\n", c.rope_theta,
                   c.rope_scaling ? c.rope_scaling->rope_type : "none", c.rms_norm_eps, c.attention_bias);
        fmt::print("embeddings   tie_word_embeddings {}, torch_dtype {}\n", c.tie_word_embeddings, c.torch_dtype);
        fmt::print("format       {}\n", describe_format(dir, plan));
        if (c.is_moe())
          fmt::print(
              "experts      {} per layer, top-{}, moe_intermediate {}, norm_topk_prob {}, decoder_sparse_step {}, {}\n",
              c.num_experts, c.num_experts_per_tok, c.moe_intermediate_size, c.norm_topk_prob, c.decoder_sparse_step,
              plan.expert_layout == model::ExpertLayout::Fused
                  ? "fused 3D tensors (mlp.experts.gate_up_proj, down_proj)"
                  : "one 2D tensor per expert projection");

        // Parameters: a packed module counts its out x in weights (not its nibbles, scales or global scales).
        std::set<std::string> packed_tensors;
        uint64_t total_params = 0, total_bytes = 0, quant_params = 0;
        for (const auto& l : plan.layers)
          for (const auto& m : l.linears)
            if (m.packed) {
              const auto n = model::packed_names(*m.packed, m.module);
              packed_tensors.insert({n.weight, n.scale, n.global, n.input});
              total_params += static_cast<uint64_t>(m.out * m.in);
            }
        for (const auto& name : dir.tensor_names()) {
          if (!packed_tensors.count(name)) total_params += dir.tensor(name).info->numel();
          total_bytes += dir.tensor(name).info->nbytes();
        }
        const auto q = plan.quantized();
        for (const auto* m : q) quant_params += static_cast<uint64_t>(m->out * m->in);
        fmt::print("checkpoint   {} file(s), {} tensors, {:.3f} G parameters, {:.2f} GB\n", dir.files().size(),
                   dir.tensor_names().size(), total_params / 1e9, total_bytes / 1e9);

        fmt::print("plan (true-sequential groups, out x in):\n");
        for (size_t i = 0; i < plan.layers.size();) {
          const std::string d = describe_layer(plan.layers[i]);
          size_t j = i + 1;
          while (j < plan.layers.size() && describe_layer(plan.layers[j]) == d) ++j;
          fmt::print("  layer{} {}{}\n{}", j - i > 1 ? "s" : "", i, j - i > 1 ? fmt::format("-{}", j - 1) : "", d);
          i = j;
        }
        fmt::print("{}    {} Linear modules, {:.3f} G of {:.3f} G parameters ({:.1f}%)\n",
                   packed_tensors.empty() ? "quantized" : "packed   ", q.size(),
                   quant_params / 1e9, total_params / 1e9, 100.0 * quant_params / std::max<uint64_t>(total_params, 1));
        fmt::print("never        embeddings, norms{}{}\n", c.is_moe() ? ", MoE router (mlp.gate)" : "",
                   c.tie_word_embeddings ? " (lm_head tied to embeddings)" : ", lm_head");

        if (*tensors) {
          std::map<std::string, std::string> role;
          for (const auto& l : plan.layers)
            for (const auto& m : l.linears) {
              role[m.tensor] = m.quantize ? "quantized" : "not quantized";
              if (!m.packed) continue;
              const auto n = model::packed_names(*m.packed, m.module);
              for (const auto& t : {n.weight, n.scale, n.global, n.input}) role[t] = "packed NVFP4";
            }
          for (const auto& name : dir.tensor_names()) {
            const auto& t = *dir.tensor(name).info;
            fmt::print("  {:<60} {:<8} {:<16} {}\n", name, numeric::dtype_name(t.dtype), io::shape_str(t.shape),
                       role.count(name) ? role[name] : "kept");
          }
        }
      }};
}

}  // namespace fp4gptq::cli
