#pragma once
// Activations of all calibration tokens at one point of a layer ([rows, width]), kept as bf16 or FP32
// (--act-dtype), in RAM or — past the memory budget — in an unlinked file under --offload-dir (read and
// written with pread/pwrite, so spilled activations live in the page cache, not in the process). Read and
// written a range of rows at a time.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "numeric/dtype.hpp"

namespace fp4gptq::calib {

class ActivationStore {
 public:
  ActivationStore() = default;
  ActivationStore(numeric::DType dtype, int64_t rows, int64_t width);
  ~ActivationStore();
  ActivationStore(const ActivationStore&) = delete;
  ActivationStore& operator=(const ActivationStore&) = delete;
  ActivationStore(ActivationStore&& o) noexcept;
  ActivationStore& operator=(ActivationStore&& o) noexcept;

  // Re-shapes the store. In RAM it keeps its memory (pages already faulted in) when large enough; with
  // `spill_dir` it lives in a file there instead.
  void reset(numeric::DType dtype, int64_t rows, int64_t width, const std::filesystem::path* spill_dir = nullptr);

  void store(int64_t row0, int64_t rows, const float* x);  // rounds to bf16 when the store is bf16
  void load(int64_t row0, int64_t rows, float* out) const;
  // The rows in the store's own dtype (bf16 bit patterns or FP32), into out (rows · width elements).
  void load_raw(int64_t row0, int64_t rows, void* out) const;
  void store_raw(int64_t row0, int64_t rows, const void* in);  // the inverse of load_raw
  void copy_from(const ActivationStore& other);  // same shape and dtype

  numeric::DType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t width() const { return width_; }
  uint64_t bytes() const { return static_cast<uint64_t>(rows_ * width_) * numeric::dtype_size(dtype_); }
  bool on_disk() const { return fd_ >= 0; }

 private:
  void close_file();
  numeric::DType dtype_ = numeric::DType::F32;
  int64_t rows_ = 0, width_ = 0;
  std::vector<float> f32_;
  std::vector<uint16_t> bf16_;
  int fd_ = -1;
};

}  // namespace fp4gptq::calib
