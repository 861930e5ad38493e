// Fuzz target: one line of a calibration JSONL file (calib::parse_sample_line).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "calib/calibration.hpp"
#include "fp4gptq/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fp4gptq;
  try {
    (void)calib::parse_sample_line(std::string_view(reinterpret_cast<const char*>(data), size), 1000, "calib.jsonl:1");
  } catch (const Error&) {
  }
  return 0;
}
