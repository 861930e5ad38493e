#pragma once
// The parts of a causal LM around the decoder layers: token embeddings and the head (final norm, lm_head or
// the tied embeddings), read from the memory map without converting whole tensors, plus a streaming forward
// pass over all layers for evaluation and tests.
#include <cstdint>
#include <functional>
#include <vector>

#include "io/model_dir.hpp"
#include "model/layer_plan.hpp"
#include "model/linear.hpp"

namespace fp4gptq::model {

// Embedding rows of `ids` -> [ids.size(), hidden]; ids must be < vocab_size (checked by the caller).
std::vector<float> embed_tokens(const io::ModelDir& dir, const ModelConfig& c, const std::vector<int32_t>& ids);

// The head: the final norm, then logits against lm_head (or the tied embeddings) for one vocabulary range at a
// time, read from the memory map (bounded memory whatever the vocabulary).
class LmHead {
 public:
  static constexpr int64_t kVocabChunk = 8192;
  LmHead(const io::ModelDir& dir, const ModelConfig& c, Compute compute);
  void final_norm(float* x, int64_t rows) const;  // in place, [rows, hidden]
  // logits [rows, nv] of the vocabulary range [v0, v0 + nv) for normed hidden states x [rows, hidden].
  void logits(const linalg::Context& ctx, const float* x, int64_t rows, int64_t v0, int64_t nv, float* out) const;
  int64_t vocab_size() const { return c_.vocab_size; }

 private:
  const io::ModelDir& dir_;
  ModelConfig c_;
  Compute compute_;
  std::vector<float> norm_;
  mutable std::vector<float> w_;
};

// Final norm then logits against lm_head (or the tied embeddings), in vocab chunks of bounded memory.
// `consume(first_vocab, count, logits[rows, count])` receives each chunk.
void lm_head_chunks(const linalg::Context& ctx, const io::ModelDir& dir, const ModelConfig& c, const float* hidden,
                    int64_t rows, Compute compute, const std::function<void(int64_t, int64_t, const float*)>& consume,
                    bool apply_final_norm = true);

// Full forward of sequences (each at its own length) layer by layer; `on_hidden(i, h)` sees the embeddings
// (i = 0), each layer's output (i = 1..L) and the final-norm output (i = L + 1); returns logits [rows, vocab].
std::vector<float> forward_logits(const linalg::Context& ctx, const io::ModelDir& dir, const ModelPlan& plan,
                                  const std::vector<std::vector<int32_t>>& sequences, Compute compute,
                                  const std::function<void(int64_t, const std::vector<float>&)>& on_hidden = {});

}  // namespace fp4gptq::model
