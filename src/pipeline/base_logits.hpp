#pragma once
// The base model's next-token distributions, stored once so that later comparisons need not run the original
// (eval --save-base-logits / --base-logits, as llama.cpp's --kl-divergence-base). docs/DESIGN.md §8b has the
// layout; in short, after a 64-byte header and the evaluated token ids, one record per scored token:
//
//   f64 nll, i32 top1, f32 lo, f32 step, u16 code[vocab]        log p_v ≈ lo + code_v · step
//
// The codes span [lo, hi] with hi = max_v log p_v (code 65535) and lo = max(min_v log p_v, hi − 40): every
// stored log-probability is within step/2 ≤ 40/131070 ≈ 3.1e-4 nats of the exact one (lower ones clip to lo,
// probabilities below e^-40 of the top). nll (the target's) and top1 are exact.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "io/mapped_file.hpp"

namespace fp4gptq::pipeline {

inline constexpr double kLogProbRange = 40.0;  // nats below the top that the codes span

struct BaseLogitsHeader {
  int64_t vocab = 0, seqlen = 0, windows = 0;
  int64_t scored() const { return windows * (seqlen - 1); }
};

// The code range of one token from its exact log-probabilities' extremes (see above).
struct LogProbCodes {
  float lo = 0, step = 1;
  LogProbCodes(double min_log_prob, double max_log_prob);
  uint16_t encode(double log_prob) const;
  float decode(uint16_t code) const { return lo + static_cast<float>(code) * step; }
};

// Writes the file under a temporary name, renamed onto `path` by finish(); destroyed unfinished, the temporary
// is removed. A record's head and its codes may come in any order, the codes a vocabulary range at a time.
class BaseLogitsWriter {
 public:
  BaseLogitsWriter(std::filesystem::path path, const BaseLogitsHeader& h, const std::vector<int32_t>& ids,
                   bool overwrite);
  ~BaseLogitsWriter();
  BaseLogitsWriter(const BaseLogitsWriter&) = delete;
  BaseLogitsWriter& operator=(const BaseLogitsWriter&) = delete;
  void set_head(int64_t record, double nll, int32_t top1, const LogProbCodes& range);
  void set_codes(int64_t record, int64_t v0, int64_t n, const uint16_t* codes);
  void finish();  // after every record was set

 private:
  void start(const std::vector<int32_t>& ids);  // header, ids, the file sized
  void write_at(size_t offset, const void* p, size_t n);
  std::filesystem::path path_, temp_;
  BaseLogitsHeader h_;
  int fd_ = -1;
  size_t records_at_ = 0;
};

class BaseLogitsReader {
 public:
  explicit BaseLogitsReader(const std::filesystem::path& path);  // validates the header and the size
  const BaseLogitsHeader& header() const { return h_; }
  std::vector<int32_t> ids() const;  // windows · seqlen tokens
  double nll(int64_t record) const;
  int32_t top1(int64_t record) const;
  // The stored log-probabilities of vocabulary [v0, v0 + n) of one record, into out.
  void log_probs(int64_t record, int64_t v0, int64_t n, float* out) const;
  const std::filesystem::path& path() const { return file_->path(); }

 private:
  const std::byte* record(int64_t i) const;
  std::unique_ptr<io::MappedFile> file_;
  BaseLogitsHeader h_;
  size_t records_at_ = 0, record_bytes_ = 0;
};

}  // namespace fp4gptq::pipeline
