#pragma once
// Helpers shared by the test suites: paths, scratch directories, raw safetensors files, error matching.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "fp4gptq/error.hpp"
#include "tools/tiny_model.hpp"

namespace fp4gptq::test {

namespace fs = std::filesystem;

// The checkout (for README.md), its test data, and the golden files of an independent reference in it.
inline fs::path source_dir() { return FP4GPTQ_SOURCE_DIR; }
inline fs::path test_data_dir() { return FP4GPTQ_TEST_DATA_DIR; }
inline fs::path golden_dir() { return test_data_dir() / "golden"; }

// A fresh directory per test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("fp4gptq-" + std::string(info->test_suite_name()) + "-" + info->name() + "-" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& s) const { return path_ / s; }

 private:
  fs::path path_;
};

// Writes a file made of an 8-byte little-endian header length, the given header text and data bytes.
inline void write_raw_safetensors(const fs::path& p, const std::string& header, const std::string& data,
                                  uint64_t declared_len = UINT64_MAX) {
  const uint64_t n = declared_len == UINT64_MAX ? header.size() : declared_len;
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
  f << header << data;
}

// Expects `fn` to throw fp4gptq::Error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing '" << (parts.empty() ? "" : parts[0]) << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
  }
}

// No entry in `dir` whose name starts with `prefix` (a final output or a leftover staging directory).
inline bool nothing_named(const fs::path& dir, const std::string& prefix) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) return false;
  return true;
}

// Runs a shell command, returning its exit status and capturing stdout+stderr.
struct CommandResult {
  int status;
  std::string output;
};
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r{0, ""};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}
inline std::string cli() { return FP4GPTQ_CLI; }

// A small dense model every end-to-end test can afford: 2 layers, hidden 64, intermediate 96, 4/2 heads of
// 16, vocab 128 (all multiples of 16, so every Linear is quantizable).
inline tools::TinyModelOptions tiny_dense(const char* arch) {
  tools::TinyModelOptions o;
  o.arch = arch;
  o.layers = 2;
  o.hidden = 64;
  o.intermediate = 96;
  o.heads = 4;
  o.kv_heads = 2;
  o.head_dim = 16;
  o.vocab = 128;
  o.experts = 4;
  o.moe_intermediate = 32;
  o.calib_samples = 1;
  return o;
}

inline std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

inline void write_text(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
}

}  // namespace fp4gptq::test
