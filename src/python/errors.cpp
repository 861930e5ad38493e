#include "python/bindings.hpp"

namespace fp4gptq::python {

namespace {

// By ErrorKind; references kept for the life of the process (the classes outlive every call).
PyObject* error_classes[4] = {};

}  // namespace

void register_errors() {
  const auto module = py::module_::import("fp4gptq._errors");
  const char* names[] = {"InvalidInputError", "MissingFileError", "InternalError", "Cancelled"};
  static_assert(static_cast<int>(ErrorKind::InvalidInput) == 0 && static_cast<int>(ErrorKind::MissingFile) == 1 &&
                static_cast<int>(ErrorKind::Internal) == 2 && static_cast<int>(ErrorKind::Cancelled) == 3);
  for (int i = 0; i < 4; ++i) error_classes[i] = py::object(module.attr(names[i])).release().ptr();
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      // A message may hold a path that is not UTF-8: its bytes are kept as \xNN escapes.
      const std::string m = e.what();
      PyObject* text = PyUnicode_DecodeUTF8(m.data(), static_cast<Py_ssize_t>(m.size()), "backslashreplace");
      PyErr_SetObject(error_classes[static_cast<int>(e.kind())], text);
      Py_XDECREF(text);
    }
  });
}

}  // namespace fp4gptq::python
