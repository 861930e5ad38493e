#pragma once
// Canonical E2M1 codes of a stored (dequantized, rounded to the checkpoint's dtype) NVFP4 weight (docs/DESIGN.md
// §7b). The pseudo-quantized checkpoint stores fp16(e2m1 · eff); from it the code is recovered as the one whose
// stored value equals the weight, choosing, where several do (an effective scale below the dtype's resolution),
// the smallest magnitude, and code 0 for every zero (+0 is stored also for a negative value rounded to zero).
// The packed writers take their codes from here in both paths (quantize --format and export of a pseudo
// directory), so the two agree byte for byte.
#include <cstddef>
#include <cstdint>

#include "numeric/dtype.hpp"

namespace fp4gptq::nvfp4 {

// Codes of one row segment of n values (a multiple of 16) stored in `dtype` (F16 or BF16: their 16-bit
// patterns), with the segment's FP8 block scales and scale_2, written packed two to a byte (n/2 bytes: element
// 2j in the low nibble, as nvfp4/packing.hpp). Returns n, or the index of the first value on no grid point of
// its block (the bytes of its block are then unspecified). `vectorized` false takes the portable path
// everywhere (the tests compare the two).
size_t recover_codes(const uint16_t* stored, size_t n, const uint8_t* block_scales, float scale_2, numeric::DType dtype,
                     uint8_t* packed, bool vectorized = true);

}  // namespace fp4gptq::nvfp4
