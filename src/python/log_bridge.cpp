#include "python/bindings.hpp"

namespace fp4gptq::python {

void install_log_bridge() {
  // Kept for the life of the process, like the logging module's own registry of loggers.
  PyObject* logger = py::module_::import("logging").attr("getLogger")("fp4gptq").release().ptr();
  set_log_sink([logger](LogLevel level, const std::string& line) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    PyObject* r = PyObject_CallMethod(logger, level == LogLevel::Warning ? "warning" : "info", "s", line.c_str());
    if (r) {
      Py_DECREF(r);
    } else if (!PyErr_ExceptionMatches(PyExc_Exception) && SignalWatch::active()) {
      SignalWatch::active()->take_pending();  // KeyboardInterrupt from a signal handler run inside the call
    } else {
      PyErr_Clear();  // a failing handler (or a line that is not UTF-8) must not stop the run
    }
  });
  // Before the interpreter goes, the library goes back to stderr.
  py::module_::import("atexit").attr("register")(py::cpp_function([] { set_log_sink({}); }));
}

}  // namespace fp4gptq::python
