#include "model/causal_lm.hpp"

#include <algorithm>

#include "fp4gptq/error.hpp"
#include "model/decoder_layer.hpp"
#include "model/ops.hpp"

namespace fp4gptq::model {

std::vector<float> embed_tokens(const io::ModelDir& dir, const ModelConfig& c, const std::vector<int32_t>& ids) {
  const auto& t = dir.tensor("model.embed_tokens.weight");
  const int64_t H = c.hidden_size;
  std::vector<float> out(ids.size() * static_cast<size_t>(H));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= c.vocab_size)
      throw Error("token id " + std::to_string(ids[i]) + " is outside the vocabulary (vocab_size " +
                  std::to_string(c.vocab_size) + ")");
    t.file->read_f32(*t.info, static_cast<uint64_t>(ids[i]) * H, H, &out[i * H]);
  }
  return out;
}

LmHead::LmHead(const io::ModelDir& dir, const ModelConfig& c, Compute compute)
    : dir_(dir), c_(c), compute_(compute), norm_(dir.tensor("model.norm.weight").read_f32()) {}

void LmHead::final_norm(float* x, int64_t rows) const {
  rms_norm(x, rows, c_.hidden_size, norm_.data(), c_.rms_norm_eps, x);
}

void LmHead::logits(const linalg::Context& ctx, const float* x, int64_t rows, int64_t v0, int64_t nv,
                    float* out) const {
  const int64_t H = c_.hidden_size;
  const auto& head = dir_.tensor(c_.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight");
  w_.resize(static_cast<size_t>(nv * H));
  head.file->read_f32(*head.info, static_cast<uint64_t>(v0 * H), static_cast<uint64_t>(nv * H), w_.data());
  Linear l(nv, H, compute_);
  l.set_weight(w_.data());
  l.forward(ctx, x, rows, out);
}

void lm_head_chunks(const linalg::Context& ctx, const io::ModelDir& dir, const ModelConfig& c, const float* hidden,
                    int64_t rows, Compute compute, const std::function<void(int64_t, int64_t, const float*)>& consume,
                    bool apply_final_norm) {
  const LmHead head(dir, c, compute);
  std::vector<float> x(hidden, hidden + rows * c.hidden_size), logits;
  if (apply_final_norm) head.final_norm(x.data(), rows);
  for (int64_t v0 = 0; v0 < c.vocab_size; v0 += LmHead::kVocabChunk) {
    const int64_t nv = std::min(LmHead::kVocabChunk, c.vocab_size - v0);
    logits.resize(static_cast<size_t>(rows * nv));
    head.logits(ctx, x.data(), rows, v0, nv, logits.data());
    consume(v0, nv, logits.data());
  }
}

std::vector<float> forward_logits(const linalg::Context& ctx, const io::ModelDir& dir, const ModelPlan& plan,
                                  const std::vector<std::vector<int32_t>>& sequences, Compute compute,
                                  const std::function<void(int64_t, const std::vector<float>&)>& on_hidden) {
  const auto& c = plan.config;
  std::vector<int32_t> ids;
  std::vector<int64_t> lens;
  int64_t longest = 0;
  for (const auto& s : sequences) {
    ids.insert(ids.end(), s.begin(), s.end());
    lens.push_back(static_cast<int64_t>(s.size()));
    longest = std::max(longest, static_cast<int64_t>(s.size()));
  }
  const int64_t rows = static_cast<int64_t>(ids.size());
  auto x = embed_tokens(dir, c, ids);
  if (on_hidden) on_hidden(0, x);
  const RopeTable rope(c, longest);
  std::vector<float> next(x.size());
  for (const auto& lp : plan.layers) {
    const DecoderLayer layer(c, lp, dir, compute);
    layer.forward(ctx, x.data(), lens, rope, next.data());
    x.swap(next);
    if (on_hidden) on_hidden(lp.index + 1, x);
  }
  if (on_hidden) {
    auto normed = x;
    LmHead(dir, c, compute).final_norm(normed.data(), rows);
    on_hidden(static_cast<int64_t>(plan.layers.size()) + 1, normed);
  }
  std::vector<float> logits(static_cast<size_t>(rows * c.vocab_size));
  lm_head_chunks(ctx, dir, c, x.data(), rows, compute, [&](int64_t v0, int64_t nv, const float* chunk) {
    for (int64_t r = 0; r < rows; ++r) std::copy(chunk + r * nv, chunk + (r + 1) * nv, &logits[r * c.vocab_size + v0]);
  });
  return logits;
}

}  // namespace fp4gptq::model
