#include <gtest/gtest.h>

#include <cmath>

#include "numeric/dtype.hpp"

namespace fp4gptq::numeric {
namespace {

TEST(DType, NamesSizesAndLookup) {
  const std::pair<const char*, size_t> expect[] = {{"F64", 8},     {"F32", 4}, {"F16", 2}, {"BF16", 2},
                                                   {"F8_E4M3", 1}, {"I64", 8}, {"I32", 4}, {"I16", 2},
                                                   {"I8", 1},      {"U8", 1},  {"BOOL", 1}};
  for (auto [name, size] : expect) {
    const auto t = dtype_from_name(name);
    ASSERT_TRUE(t) << name;
    EXPECT_EQ(dtype_name(*t), name);
    EXPECT_EQ(dtype_size(*t), size);
  }
  EXPECT_FALSE(dtype_from_name("F4"));
  EXPECT_FALSE(dtype_from_name("bf16"));
  EXPECT_TRUE(is_float(DType::F8_E4M3));
  EXPECT_FALSE(is_float(DType::I32));
}

TEST(DType, FromF32CountsOverflowOnly) {
  const float src[] = {1.0f, 70000.0f, -65520.0f, INFINITY, 65504.0f};
  uint16_t out[5];
  EXPECT_EQ(from_f32(DType::F16, src, out, 5), 2u);  // 70000 and -65520 overflow; Inf was already Inf
  EXPECT_EQ(from_f32(DType::BF16, src, out, 5), 0u);
  float back[5];
  to_f32(DType::BF16, out, back, 5);
  EXPECT_EQ(back[1], 70144.0f);  // bf16 nearest of 70000
}

}  // namespace
}  // namespace fp4gptq::numeric
