#pragma once
// safetensors reader over a memory map. The header is validated entirely before any tensor is used: length
// within the file and under 100 MB, valid JSON object, known dtypes, shape × dtype size == byte length,
// offsets inside the data area and non-overlapping. Every error names the file and the tensor.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/mapped_file.hpp"
#include "numeric/dtype.hpp"

namespace fp4gptq::io {

using numeric::DType;
using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[4, 16]"
uint64_t numel(const Shape& s);

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte offsets relative to the data area
  uint64_t nbytes() const { return end - begin; }
  uint64_t numel() const { return io::numel(shape); }
};

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

// A validated header: the tensors sorted by offset, the metadata, where the data area starts.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;
};

// Validates the header of a whole safetensors file held in `file` (`path` names it in errors).
SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file, const std::filesystem::path& path);

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return map_.path(); }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by offset
  const TensorInfo* find(std::string_view name) const;
  const TensorInfo& at(std::string_view name) const;  // throws naming the file and tensor
  // at(name), which must hold `numel` elements of `dtype`: an error naming the file, the tensor and both otherwise.
  const TensorInfo& expect(std::string_view name, DType dtype, uint64_t numel) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  std::span<const std::byte> bytes(const TensorInfo& t) const;
  std::span<const std::byte> header_bytes() const { return {map_.data(), data_start_}; }  // length + JSON
  uint64_t file_size() const { return map_.size(); }
  // Converts a float tensor to FP32 (all of it, or `count` elements from element `first`).
  std::vector<float> read_f32(const TensorInfo& t) const;
  void read_f32(const TensorInfo& t, uint64_t first, uint64_t count, float* out) const;
  void release(const TensorInfo& t) const;                                  // drop its resident pages
  void release(const TensorInfo& t, uint64_t first, uint64_t count) const;  // elements [first, first+count)
  void release_all() const;

 private:
  MappedFile map_;
  uint64_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace fp4gptq::io
