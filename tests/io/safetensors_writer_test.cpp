// The streaming writer: planned header, out-of-order partial writes, metadata, no file under the final
// name unless finished.
#include <gtest/gtest.h>

#include "io/safetensors_writer.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::io {
namespace {

TEST(SafetensorsWriter, WritesInAnyOrderAndReadsBack) {
  test::ScratchDir dir;
  const auto path = dir / "out.safetensors";
  {
    SafetensorsWriter w(path, {{"x", DType::F32, {2, 3}}, {"y", DType::U8, {5}}, {"s", DType::F32, {}}},
                        {{"format", "pt"}});
    const uint8_t y[5] = {1, 2, 3, 4, 5};
    w.write("y", y, 5);
    const float s = 0.25f;
    w.write("s", &s, 4);
    const float x[6] = {0, 1, 2, 3, 4, 5};
    w.write_part("x", 12, x + 3, 12);  // second row first
    w.write_part("x", 0, x, 12);
    EXPECT_FALSE(std::filesystem::exists(path)) << "nothing under the final name before finish()";
    w.finish();
  }
  SafetensorsFile f(path);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.read_f32(f.at("x")), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(f.read_f32(f.at("s")), std::vector<float>{0.25f});
  EXPECT_EQ(static_cast<int>(f.bytes(f.at("y"))[4]), 5);
  EXPECT_EQ(f.tensors()[0].name, "x");  // planned order is file order
  // The header is padded to 8 bytes, so the data area starts aligned.
  const auto size = std::filesystem::file_size(path);
  EXPECT_EQ((size - f.tensors().back().end) % 8, 0u);
}

TEST(SafetensorsWriter, UnfinishedWriterLeavesNoFile) {
  test::ScratchDir dir;
  const auto path = dir / "out.safetensors";
  {
    SafetensorsWriter w(path, {{"x", DType::F32, {4}}});
    const float x[2] = {1, 2};
    w.write_part("x", 0, x, 8);
  }
  EXPECT_TRUE(test::nothing_named(dir.path(), "out.safetensors"));
}

TEST(SafetensorsWriter, FinishRejectsIncompleteTensors) {
  test::ScratchDir dir;
  const auto path = dir / "out.safetensors";
  {
    SafetensorsWriter w(path, {{"x", DType::F32, {4}}, {"y", DType::F32, {1}}});
    const float y = 1;
    w.write("y", &y, 4);
    test::expect_error([&] { w.finish(); }, {"out.safetensors", "'x'", "incomplete"});
  }
  EXPECT_TRUE(test::nothing_named(dir.path(), "out.safetensors"));
}

TEST(SafetensorsWriter, RejectsUnknownNamesWrongSizesAndDuplicates) {
  test::ScratchDir dir;
  SafetensorsWriter w(dir / "o.safetensors", {{"x", DType::F16, {4}}});
  const float v[4] = {};
  test::expect_error([&] { w.write("nope", v, 8); }, {"'nope'", "not in the planned header"});
  test::expect_error([&] { w.write("x", v, 16); }, {"'x'", "8 bytes"});
  test::expect_error([&] { w.write_part("x", 6, v, 4); }, {"'x'", "past its size"});
  test::expect_error(
      [&] {
        SafetensorsWriter d(dir / "d.safetensors", {{"x", DType::F16, {1}}, {"x", DType::F16, {1}}});
      },
      {"'x'", "planned twice"});
}

}  // namespace
}  // namespace fp4gptq::io
