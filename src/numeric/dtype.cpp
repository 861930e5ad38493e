#include "numeric/dtype.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstring>

#include "fp4gptq/error.hpp"
#include "numeric/fp8_e4m3.hpp"
#include "numeric/half.hpp"

namespace fp4gptq::numeric {
namespace {

struct DTypeInfo {
  DType type;
  std::string_view name;
  size_t size;
  bool is_float;
};

constexpr std::array<DTypeInfo, 11> kDTypes = {{
    {DType::F64, "F64", 8, true},
    {DType::F32, "F32", 4, true},
    {DType::F16, "F16", 2, true},
    {DType::BF16, "BF16", 2, true},
    {DType::F8_E4M3, "F8_E4M3", 1, true},
    {DType::I64, "I64", 8, false},
    {DType::I32, "I32", 4, false},
    {DType::I16, "I16", 2, false},
    {DType::I8, "I8", 1, false},
    {DType::U8, "U8", 1, false},
    {DType::BOOL, "BOOL", 1, false},
}};

const DTypeInfo& info(DType t) { return kDTypes[static_cast<size_t>(t)]; }

}  // namespace

std::string_view dtype_name(DType t) { return info(t).name; }
size_t dtype_size(DType t) { return info(t).size; }
bool is_float(DType t) { return info(t).is_float; }

std::optional<DType> dtype_from_name(std::string_view s) {
  for (const auto& d : kDTypes)
    if (d.name == s) return d.type;
  return std::nullopt;
}

std::string known_dtype_names() {
  std::string out;
  for (const auto& d : kDTypes) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}

namespace {

// `convert(aligned_src, dst, count)` over src in chunks copied to an aligned buffer when src is not aligned for
// T: tensor data sits wherever the safetensors header ends, and an odd header length misaligns every element.
template <typename T, typename F>
void convert_aligned(const void* src, float* dst, size_t n, F&& convert) {
  if (reinterpret_cast<uintptr_t>(src) % alignof(T) == 0) return convert(static_cast<const T*>(src), dst, n);
  constexpr size_t kChunk = 4096;
  T buf[kChunk];
  const auto* s = static_cast<const std::byte*>(src);
  for (size_t i = 0; i < n; i += kChunk) {
    const size_t c = std::min(kChunk, n - i);
    std::memcpy(buf, s + i * sizeof(T), c * sizeof(T));
    convert(buf, dst + i, c);
  }
}

}  // namespace

void to_f32(DType t, const void* src, float* dst, size_t n) {
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, n * 4);
      return;
    case DType::F16:
      return convert_aligned<uint16_t>(src, dst, n, [](const uint16_t* s, float* d, size_t c) { f16_to_f32(s, d, c); });
    case DType::BF16:
      return convert_aligned<uint16_t>(src, dst, n,
                                       [](const uint16_t* s, float* d, size_t c) { bf16_to_f32(s, d, c); });
    case DType::F64:
      return convert_aligned<double>(src, dst, n, [](const double* s, float* d, size_t c) {
        for (size_t i = 0; i < c; ++i) d[i] = static_cast<float>(s[i]);
      });
    case DType::F8_E4M3: {
      const auto* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = e4m3_to_f32(s[i]);
      return;
    }
    default:
      throw Error("to_f32: dtype " + std::string(dtype_name(t)) + " is not a float type");
  }
}

size_t from_f32(DType t, const float* src, void* dst, size_t n) {
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, n * 4);
      return 0;
    case DType::F16: {
      auto* d = static_cast<uint16_t*>(dst);
      f32_to_f16(src, d, n);
      size_t over = 0;
      for (size_t i = 0; i < n; ++i) over += (d[i] & 0x7fffu) == 0x7c00u && std::isfinite(src[i]);
      return over;
    }
    case DType::BF16: {
      auto* d = static_cast<uint16_t*>(dst);
      f32_to_bf16(src, d, n);
      size_t over = 0;
      for (size_t i = 0; i < n; ++i) over += (d[i] & 0x7fffu) == 0x7f80u && std::isfinite(src[i]);
      return over;
    }
    default:
      throw Error("from_f32: cannot write dtype " + std::string(dtype_name(t)) + " (F32, F16 or BF16 expected)");
  }
}

}  // namespace fp4gptq::numeric
