#pragma once
// Tensor element types of the safetensors format, and conversions of float types to and from FP32.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fp4gptq::numeric {

enum class DType { F64, F32, F16, BF16, F8_E4M3, I64, I32, I16, I8, U8, BOOL };

std::string_view dtype_name(DType t);                      // safetensors spelling, e.g. "BF16"
std::optional<DType> dtype_from_name(std::string_view s);  // nullopt for an unknown name
size_t dtype_size(DType t);                                // bytes per element
bool is_float(DType t);                                    // F64 F32 F16 BF16 F8_E4M3
std::string known_dtype_names();                           // "F64, F32, ..." for error messages

// Converts n elements of a float dtype to FP32 (exact for every type but F64).
void to_f32(DType t, const void* src, float* dst, size_t n);
// Converts n FP32 values to F32/F16/BF16 with round-to-nearest-even. Returns the number of finite inputs
// that became infinite (overflow of the target type).
size_t from_f32(DType t, const float* src, void* dst, size_t n);

}  // namespace fp4gptq::numeric
