// The safetensors reader validates the whole header before use; every bad-input case names file and tensor.
#include <gtest/gtest.h>

#include "io/safetensors_reader.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::io {
namespace {

using test::expect_error;
using test::write_raw_safetensors;

const std::string kGood =
    R"({"__metadata__":{"format":"pt","who":"test"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
    R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},"c":{"dtype":"I64","shape":[],"data_offsets":[22,30]}})";

std::string data30() {
  std::string d(30, '\0');
  const float a[4] = {1.0f, -2.0f, 0.5f, 8.0f};
  std::memcpy(d.data(), a, 16);
  const uint16_t b[3] = {0x3f80, 0xc000, 0x4040};  // bf16 1, -2, 3
  std::memcpy(d.data() + 16, b, 6);
  const int64_t c = -7;
  std::memcpy(d.data() + 22, &c, 8);
  return d;
}

TEST(SafetensorsReader, ReadsTensorsAndMetadata) {
  test::ScratchDir dir;
  write_raw_safetensors(dir / "ok.safetensors", kGood, data30());
  SafetensorsFile f(dir / "ok.safetensors");
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.metadata().at("who"), "test");
  EXPECT_EQ(f.at("a").shape, (Shape{2, 2}));
  EXPECT_EQ(f.read_f32(f.at("a")), (std::vector<float>{1.0f, -2.0f, 0.5f, 8.0f}));
  EXPECT_EQ(f.read_f32(f.at("b")), (std::vector<float>{1.0f, -2.0f, 3.0f}));
  EXPECT_EQ(f.at("c").shape, Shape{});
  EXPECT_EQ(f.at("c").numel(), 1u);
  int64_t c;
  std::memcpy(&c, f.bytes(f.at("c")).data(), 8);
  EXPECT_EQ(c, -7);
  expect_error([&] { f.read_f32(f.at("c")); }, {"ok.safetensors", "'c'", "I64"});
  expect_error([&] { f.at("zzz"); }, {"ok.safetensors", "zzz"});
  f.release_all();  // pages dropped; data still readable
  EXPECT_EQ(f.read_f32(f.at("a"))[3], 8.0f);
}

TEST(SafetensorsReader, EveryDtypeIsKnown) {
  test::ScratchDir dir;
  std::string h = "{";
  uint64_t off = 0;
  const std::pair<const char*, int> dts[] = {{"F64", 8},     {"F32", 4}, {"F16", 2}, {"BF16", 2},
                                             {"F8_E4M3", 1}, {"I64", 8}, {"I32", 4}, {"I16", 2},
                                             {"I8", 1},      {"U8", 1},  {"BOOL", 1}};
  for (auto [name, size] : dts) {
    h += std::string(off ? "," : "") + "\"t_" + name + "\":{\"dtype\":\"" + name +
         "\",\"shape\":[3],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + 3 * size) + "]}";
    off += 3 * size;
  }
  h += "}";
  write_raw_safetensors(dir / "all.safetensors", h, std::string(off, '\0'));
  SafetensorsFile f(dir / "all.safetensors");
  EXPECT_EQ(f.tensors().size(), 11u);
  EXPECT_EQ(f.at("t_F8_E4M3").dtype, DType::F8_E4M3);
}

struct BadCase {
  const char* label;
  std::string header;
  std::string data;
  uint64_t declared_len;
  std::vector<std::string> expect;  // besides the file name
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.label; }

class SafetensorsBadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(SafetensorsBadInput, ClearErrorNamingFileAndTensor) {
  test::ScratchDir dir;
  const auto& c = GetParam();
  const auto path = dir / "bad.safetensors";
  write_raw_safetensors(path, c.header, c.data, c.declared_len);
  auto expect = c.expect;
  expect.push_back(path.string());
  expect_error([&] { SafetensorsFile f(path); }, expect);
}

const std::string kA = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

INSTANTIATE_TEST_SUITE_P(
    Cases, SafetensorsBadInput,
    ::testing::Values(
        BadCase{
            "truncated_data", "{" + kA + "}", std::string(5, '\0'), UINT64_MAX, {"'a'", "end beyond the data area"}},
        BadCase{"header_longer_than_file", "{" + kA + "}", std::string(8, '\0'), 5000, {"exceeds the file size"}},
        BadCase{"oversized_header", "{}", "", 200'000'000, {"100 MB"}},
        BadCase{"invalid_json", "{\"a\": [1, 2", "", UINT64_MAX, {"not valid JSON"}},
        BadCase{"not_an_object", "[1,2,3]", "", UINT64_MAX, {"not a JSON object"}},
        BadCase{"unknown_dtype",
                R"({"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}})",
                std::string(1, '\0'),
                UINT64_MAX,
                {"'a'", "unknown dtype 'F4'", "BF16"}},
        BadCase{"size_mismatch",
                R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                std::string(8, '\0'),
                UINT64_MAX,
                {"'a'", "[3]", "12 bytes", "span 8"}},
        BadCase{
            "overlap",
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            std::string(12, '\0'),
            UINT64_MAX,
            {"'b'", "overlaps tensor 'a'"}},
        BadCase{"begin_after_end",
                R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})",
                std::string(8, '\0'),
                UINT64_MAX,
                {"'a'", "begin > end"}},
        BadCase{"negative_shape",
                R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
                std::string(8, '\0'),
                UINT64_MAX,
                {"'a'", "non-negative"}},
        BadCase{"missing_offsets",
                R"({"a":{"dtype":"F32","shape":[2]}})",
                std::string(8, '\0'),
                UINT64_MAX,
                {"'a'", "data_offsets"}},
        BadCase{"bad_metadata", R"({"__metadata__":{"k":1}})", "", UINT64_MAX, {"__metadata__", "'k'"}}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(SafetensorsReader, TooSmallFile) {
  test::ScratchDir dir;
  std::ofstream(dir / "tiny.safetensors") << "abc";
  expect_error([&] { SafetensorsFile f(dir / "tiny.safetensors"); }, {"tiny.safetensors", "8-byte header length"});
  expect_error([&] { SafetensorsFile f(dir / "missing.safetensors"); }, {"missing.safetensors", "cannot open"});
}

}  // namespace
}  // namespace fp4gptq::io
