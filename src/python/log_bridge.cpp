#include "python/bindings.hpp"

namespace fp4gptq::python {

void install_log_bridge() {
  // Kept for the life of the process, like the logging module's own registry of loggers.
  PyObject* logger = py::module_::import("logging").attr("getLogger")("fp4gptq").release().ptr();
  set_log_sink([logger](LogLevel level, const std::string& line) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    PyObject* text = PyUnicode_DecodeUTF8(line.data(), static_cast<Py_ssize_t>(line.size()), "backslashreplace");
    PyObject* r = text ? PyObject_CallMethod(logger, level == LogLevel::Warning ? "warning" : "info", "O", text)
                       : nullptr;
    Py_XDECREF(text);
    if (r) {
      Py_DECREF(r);
    } else if (PyErr_ExceptionMatches(PyExc_Exception)) {
      PyErr_Clear();  // a failing handler must not stop the run
    } else if (SignalWatch::active()) {
      SignalWatch::active()->take_pending();  // KeyboardInterrupt from a signal handler run inside the call
    } else {
      PyErr_Clear();
      PyErr_SetInterrupt();  // not lost: raised again at the next chance Python has
    }
  });
  // Before the interpreter goes, the library goes back to stderr.
  py::module_::import("atexit").attr("register")(py::cpp_function([] { set_log_sink({}); }));
}

}  // namespace fp4gptq::python
