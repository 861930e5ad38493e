#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "python/bindings.hpp"

namespace fp4gptq::python {

namespace {

CalibMode calib_mode_of(const std::string& s) { return parse_name(calib_mode_names(), s, "calib_mode"); }

py::list id_lists(const std::vector<Example>& examples) {
  py::list out(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) out[i] = py::cast(examples[i]);
  return out;
}

}  // namespace

py::dict summary_to_dict(const CalibrationSummary& s) {
  py::dict d;
  d["file"] = s.file;
  d["format"] = s.format;
  d["mode"] = s.mode;
  d["samples"] = s.samples;
  d["tokens"] = s.tokens;
  d["documents"] = s.documents;
  d["too_short"] = s.too_short;
  d["description"] = s.describe();
  return d;
}

BosPolicy bos_of(const std::string& s) { return parse_name(bos_policy_names(), s, "bos"); }
Compute compute_of(const std::string& s) { return parse_name(compute_names(), s, "compute"); }

std::vector<Example> read_calibration(const std::filesystem::path& file, const std::filesystem::path& tokenizer,
                                      const std::string& bos, int64_t nsamples, int64_t seqlen,
                                      const std::string& mode, std::optional<uint64_t> seed,
                                      const std::string& text_field, int64_t vocab, CalibrationSummary& summary) {
  const CalibrationConfig cfg{nsamples, seqlen, calib_mode_of(mode), seed, text_field, vocab};
  const auto policy = bos_of(bos);
  py::gil_scoped_release nogil;
  return load_calibration(file, tokenizer, policy, cfg, &summary);
}

void bind_tokenizer(py::module_& m) {
  py::class_<Tokenizer>(m, "Tokenizer", "A Hugging Face tokenizer.json with the tokenizers library's ids")
      .def(py::init([](const std::filesystem::path& path, const std::string& bos) {
             const auto policy = bos_of(bos);
             py::gil_scoped_release nogil;
             return Tokenizer::from_pretrained(path, policy);
           }),
           py::arg("path"), py::arg("bos") = "file")
      .def(
          "encode",
          [](const Tokenizer& t, const std::string& text, bool add_special, std::optional<int64_t> max_length) {
            py::gil_scoped_release nogil;
            return max_length ? t.encode(text, add_special, *max_length) : t.encode(text, add_special);
          },
          py::arg("text"), py::arg("add_special_tokens") = true, py::arg("max_length") = py::none())
      .def(
          "encode_batch",
          [](const Tokenizer& t, const std::vector<std::string>& texts, bool add_special,
             std::optional<int64_t> max_length) {
            std::vector<Example> out;
            {
              py::gil_scoped_release nogil;
              out.reserve(texts.size());
              for (const auto& text : texts)
                out.push_back(max_length ? t.encode(text, add_special, *max_length) : t.encode(text, add_special));
            }
            return id_lists(out);
          },
          py::arg("texts"), py::arg("add_special_tokens") = true, py::arg("max_length") = py::none())
      .def(
          "decode",
          [](const Tokenizer& t, py::handle ids, bool skip_special) {
            const auto v = to_ids(ids, "ids");
            py::gil_scoped_release nogil;
            return t.decode(v, skip_special);
          },
          py::arg("ids"), py::arg("skip_special_tokens") = false)
      .def_property_readonly("vocab_size", &Tokenizer::vocab_size)
      .def("token_to_id", [](const Tokenizer& t, const std::string& token) { return t.token_to_id(token); });

  m.def("calibration_format", &calibration_format, py::arg("file"), py::arg("text_field") = "text");
  m.def(
      "load_calibration",
      [](const std::filesystem::path& file, const std::filesystem::path& tokenizer, const std::string& bos,
         int64_t nsamples, int64_t seqlen, const std::string& mode, std::optional<uint64_t> seed,
         const std::string& text_field, int64_t vocab_size) {
        CalibrationSummary summary;
        const auto examples =
            read_calibration(file, tokenizer, bos, nsamples, seqlen, mode, seed, text_field, vocab_size, summary);
        return py::make_tuple(id_lists(examples), summary_to_dict(summary));
      },
      py::arg("file"), py::arg("tokenizer"), py::arg("bos"), py::arg("nsamples"), py::arg("seqlen"), py::arg("mode"),
      py::arg("seed"), py::arg("text_field"), py::arg("vocab_size"));
  m.def(
      "to_examples", [](py::handle examples) { return id_lists(to_examples(examples)); }, py::arg("examples"));
}

}  // namespace fp4gptq::python
