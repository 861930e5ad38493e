#include "python/bindings.hpp"

namespace fp4gptq::python {

namespace {
thread_local SignalWatch* active_watch = nullptr;
}

SignalWatch* SignalWatch::active() { return active_watch; }

SignalWatch::~SignalWatch() {
  disarm();
  Py_XDECREF(type_);
  Py_XDECREF(value_);
  Py_XDECREF(traceback_);
}

void SignalWatch::disarm() {
  if (active_watch == this) active_watch = nullptr;
}

void SignalWatch::take_pending() {
  Py_CLEAR(type_);
  Py_CLEAR(value_);
  Py_CLEAR(traceback_);
  PyErr_Fetch(&type_, &value_, &traceback_);
  stop_ = true;
}

void SignalWatch::arm() {
  active_watch = this;
  owner_ = std::this_thread::get_id();
  stop_ = false;
  last_ = {};
  Py_CLEAR(type_);
  Py_CLEAR(value_);
  Py_CLEAR(traceback_);
}

bool SignalWatch::poll() {
  if (stop_) return true;
  if (std::this_thread::get_id() != owner_) return false;  // only the owner reads (and writes) last_
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(50)) return false;  // the GIL is not taken on every poll
  last_ = now;
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) take_pending();
  return stop_;
}

void SignalWatch::rethrow_if_signalled() {
  if (!type_) return;
  PyErr_Restore(type_, value_, traceback_);
  type_ = value_ = traceback_ = nullptr;
  throw py::error_already_set();
}

}  // namespace fp4gptq::python
