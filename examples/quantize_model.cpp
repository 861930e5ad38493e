// Quantizes a Hugging Face model to NVFP4 with GPTQ through fp4gptq's C++ API, the way one would with
// AutoGPTQ in Python:
//   quantize_model MODEL_DIR CALIB OUT_DIR [NSAMPLES] [SEQLEN]
// CALIB is text (JSONL with a "text" field per line, or a .txt), encoded with the model's tokenizer.json as
// `tokenizer(text)` would be, or token-id JSONL.
#include <cstdio>
#include <cstdlib>

#include "fp4gptq/fp4gptq.hpp"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL_DIR CALIB.jsonl OUT_DIR [NSAMPLES] [SEQLEN]\n", argv[0]);
    return 2;
  }
  try {
    fp4gptq::QuantizeConfig config;  // bits 4, group_size 16, NVFP4, damp 0.01, true-sequential
    config.desc_act = false;
    auto model = fp4gptq::CausalLM::from_pretrained(argv[1], config);
    const int64_t nsamples = argc > 4 ? std::atoll(argv[4]) : 128, seqlen = argc > 5 ? std::atoll(argv[5]) : 2048;
    std::vector<fp4gptq::Example> examples;
    if (fp4gptq::calibration_format(argv[2]) == "token-ids") {
      examples = fp4gptq::load_examples(argv[2], model.vocab_size(), nsamples, seqlen);
    } else {  // examples = [tokenizer(text) for text in texts], truncated to seqlen
      const auto tokenizer = fp4gptq::Tokenizer::from_pretrained(argv[1]);
      fp4gptq::CalibrationConfig calibration;
      calibration.nsamples = nsamples;
      calibration.seqlen = seqlen;
      calibration.vocab_size = model.vocab_size();  // a tokenizer that does not fit the model is named
      examples = fp4gptq::load_examples(argv[2], tokenizer, calibration);
    }
    const auto report = model.quantize(examples);
    model.save_quantized(argv[3]);
    std::printf("%lld modules quantized; mean relative output error %.5f (round-to-nearest: %.5f)\n",
                static_cast<long long>(report.modules), report.mean_rel_err, report.mean_rtn_rel_err);
  } catch (const fp4gptq::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}
