// fp4gptq._native: the C++ library under the Python package fp4gptq (python/fp4gptq/__init__.py).
#include "python/bindings.hpp"

PYBIND11_MODULE(_native, m) {
  m.doc() = "fp4gptq's C++ library (NVFP4 GPTQ); use it through the fp4gptq package";
  fp4gptq::python::register_errors();
  fp4gptq::python::install_log_bridge();
  fp4gptq::python::bind_tokenizer(m);
  fp4gptq::python::bind_model(m);
}
