#include <pybind11/stl.h>

#include <pybind11/stl/filesystem.h>

#include <mutex>
#include <optional>

#include "python/bindings.hpp"

namespace fp4gptq::python {

namespace {

// A CausalLM with the watch its cancellation hook polls (shared: the hook lives in the model's config).
struct Model {
  std::shared_ptr<SignalWatch> watch = std::make_shared<SignalWatch>();
  std::unique_ptr<CausalLM> lm;
  std::mutex busy;  // one call at a time on a model (quantize and save share its staging directory)
  ~Model() {  // an unsaved checkpoint's staging directory (gigabytes) is removed without the GIL
#if PY_VERSION_HEX >= 0x030D0000
    const bool finalizing = Py_IsFinalizing();
#else
    const bool finalizing = _Py_IsFinalizing();
#endif
    if (finalizing) return;  // the interpreter is going: no GIL games (lm goes with the members)
    py::gil_scoped_release nogil;
    lm.reset();
  }
};

// Holds the model for one call, or refuses a second one started from another thread meanwhile.
std::unique_lock<std::mutex> exclusive(Model& m) {
  std::unique_lock<std::mutex> lock(m.busy, std::try_to_lock);
  if (!lock.owns_lock())
    throw Error("CausalLM: another thread is using this model (quantize and save_quantized run one at a time)",
                ErrorKind::Internal);
  return lock;
}

py::dict report_dict(const QuantizeReport& r) {
  py::dict d;
  d["modules"] = r.modules;
  d["fallbacks"] = r.fallbacks;
  d["skipped"] = r.skipped;
  d["samples"] = r.samples;
  d["tokens"] = r.tokens;
  d["mean_rel_err"] = r.mean_rel_err;
  d["mean_rtn_rel_err"] = r.mean_rtn_rel_err;
  d["mean_weight_mse"] = r.mean_weight_mse;
  d["seconds"] = r.seconds;
  d["peak_rss_bytes"] = r.peak_rss_bytes;
  d["json"] = r.json;
  return d;
}

}  // namespace

void bind_model(py::module_& m) {
  py::class_<Model>(m, "CausalLM", "fp4gptq::CausalLM: a model directory to quantize")
      .def(py::init([](const std::filesystem::path& dir, const py::dict& fields) {
             auto cfg = config_from(fields);
             auto model = std::make_unique<Model>();
             cfg.cancelled = [w = model->watch] { return w->poll(); };
             py::gil_scoped_release nogil;
             model->lm = std::make_unique<CausalLM>(CausalLM::from_pretrained(dir, std::move(cfg)));
             return model;
           }),
           py::arg("model_dir"), py::arg("config"))
      .def_property_readonly("vocab_size", [](const Model& self) { return self.lm->vocab_size(); })
      .def(
          "quantize",
          [](Model& self, py::handle examples) {
            const auto lock = exclusive(self);
            const auto ex = examples.is_none() ? std::vector<Example>{} : to_examples(examples);
            return report_dict(run_watched(*self.watch, [&] { return self.lm->quantize(ex); }));
          },
          py::arg("examples"))
      .def(
          "quantize_file",
          [](Model& self, const std::filesystem::path& file, const std::filesystem::path& tokenizer,
             const std::string& bos, int64_t nsamples, int64_t seqlen, const std::string& mode,
             std::optional<uint64_t> seed, const std::string& text_field, const py::function& on_calibration) {
            const auto lock = exclusive(self);
            CalibrationSummary summary;
            const auto ex = read_calibration(file, tokenizer, bos, nsamples, seqlen, mode, seed, text_field,
                                             self.lm->vocab_size(), summary);
            on_calibration(summary_to_dict(summary));
            return report_dict(run_watched(*self.watch, [&] { return self.lm->quantize(ex, &summary); }));
          },
          py::arg("file"), py::arg("tokenizer"), py::arg("bos"), py::arg("nsamples"), py::arg("seqlen"), py::arg("mode"),
          py::arg("seed"), py::arg("text_field"), py::arg("on_calibration"))
      .def(
          "save_quantized",
          [](Model& self, const std::filesystem::path& out, bool overwrite) {
            const auto lock = exclusive(self);
            py::gil_scoped_release nogil;
            self.lm->save_quantized(out, overwrite);
          },
          py::arg("out_dir"), py::arg("overwrite") = false);

  m.def(
      "check_config", [](const py::dict& fields) { config_from(fields); }, py::arg("config"));
  m.def("parse_size", &parse_size, py::arg("text"), py::arg("what"));
  m.def("option_names", [] {
    const auto keys = [](const auto& table) {
      py::list l;
      for (const auto& [name, value] : table) l.append(name);
      return l;
    };
    py::dict d;
    d["dtype"] = keys(dtype_names());
    d["compute"] = keys(compute_names());
    d["bos"] = keys(bos_policy_names());
    d["calib_mode"] = keys(calib_mode_names());
    d["algorithm"] = py::make_tuple("gptq", "rtn");
    d["format"] = keys(format_names());
    d["activations"] = keys(activations_names());
    d["block_scale_search"] = keys(block_scale_search_names());
    return d;
  });
  m.def(
      "export_checkpoint",
      [](const std::filesystem::path& from, const std::filesystem::path& out, const std::string& format,
         const std::string& activations, const std::filesystem::path& model_dir, const std::optional<std::string>& dtype,
         uint64_t max_shard_bytes, bool overwrite, bool quiet) {
        ExportConfig c;
        c.format = parse_name(format_names(), format, "export_checkpoint format");
        c.activations = parse_name(activations_names(), activations, "export_checkpoint activations");
        c.model_dir = model_dir;
        if (dtype) c.dtype = parse_name(dtype_names(), *dtype, "export_checkpoint dtype");
        c.max_shard_bytes = max_shard_bytes;
        c.overwrite = overwrite;
        c.quiet = quiet;
        const auto r = run_cancellable(c, [&](const ExportConfig& cfg) { return fp4gptq::export_checkpoint(from, out, cfg); });
        py::dict d;
        d["modules"] = r.modules;
        d["input_bytes"] = r.input_bytes;
        d["output_bytes"] = r.output_bytes;
        d["seconds"] = r.seconds;
        return d;
      },
      py::arg("from_dir"), py::arg("out_dir"), py::arg("format"), py::arg("activations"), py::arg("model_dir"),
      py::arg("dtype"), py::arg("max_shard_bytes"), py::arg("overwrite"), py::arg("quiet"));
  m.def(
      "eval_ppl",
      [](const std::filesystem::path& model_dir, const std::filesystem::path& data, int64_t seqlen,
         const std::filesystem::path& tokenizer, const std::string& bos, const std::string& text_field,
         const std::string& compute, int threads, bool quiet) {
        EvalConfig c;
        c.seqlen = seqlen;
        c.tokenizer = tokenizer;
        c.bos = bos_of(bos);
        c.text_field = text_field;
        c.compute = compute_of(compute);
        c.threads = threads;
        c.quiet = quiet;
        const auto p = run_cancellable(c, [&](const EvalConfig& cfg) { return evaluate_perplexity(model_dir, data, cfg); });
        py::dict d;
        d["ppl"] = p.ppl;
        d["mean_nll"] = p.mean_nll;
        d["windows"] = p.windows;
        d["scored_tokens"] = p.scored_tokens;
        return d;
      },
      py::arg("model_dir"), py::arg("data"), py::arg("seqlen"), py::arg("tokenizer"), py::arg("bos"),
      py::arg("text_field"), py::arg("compute"), py::arg("threads"), py::arg("quiet"));
  m.def(
      "eval_kld",
      [](const std::filesystem::path& model_dir, const std::filesystem::path& base_dir,
         const std::filesystem::path& data, int64_t seqlen, const std::filesystem::path& base_logits,
         const std::filesystem::path& save_base_logits, bool overwrite, const std::filesystem::path& tokenizer,
         const std::string& bos, const std::string& text_field, const std::string& compute, int threads,
         bool quiet) {
        CompareConfig c;
        c.eval.seqlen = seqlen;
        c.eval.tokenizer = tokenizer;
        c.eval.bos = bos_of(bos);
        c.eval.text_field = text_field;
        c.eval.compute = compute_of(compute);
        c.eval.threads = threads;
        c.eval.quiet = quiet;
        c.base_logits = base_logits;
        c.save_base_logits = save_base_logits;
        c.overwrite = overwrite;
        // run_cancellable sets c.eval.cancelled
        const auto r = run_cancellable(c.eval, [&](const EvalConfig&) { return compare_models(model_dir, base_dir, data, c); });
        return to_json(r, -1);  // evaluation.py parses it: one list of the figures' names, the CLI's
      },
      py::arg("model_dir"), py::arg("base_dir"), py::arg("data"), py::arg("seqlen"), py::arg("base_logits"),
      py::arg("save_base_logits"), py::arg("overwrite"), py::arg("tokenizer"), py::arg("bos"),
      py::arg("text_field"), py::arg("compute"), py::arg("threads"), py::arg("quiet"));
}

}  // namespace fp4gptq::python
