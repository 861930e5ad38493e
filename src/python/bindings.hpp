#pragma once
// The pieces of fp4gptq._native (python/fp4gptq is the package around it): error mapping, the log bridge to
// Python's `logging`, the SIGINT watch behind the cancellation hook, the conversion of AutoGPTQ-style examples,
// and the bound classes. Every call that does long work releases the GIL.
#include <pybind11/pybind11.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fp4gptq/fp4gptq.hpp"

namespace fp4gptq::python {

namespace py = pybind11;

// fp4gptq::Error reaches Python as the class of its kind, from fp4gptq._errors (InvalidInputError is a
// ValueError, MissingFileError a FileNotFoundError, InternalError a RuntimeError), with the same message.
void register_errors();

// Progress lines and warnings of the library go to logging.getLogger("fp4gptq") (info / warning).
void install_log_bridge();

// The cancellation hook of a run started from Python: it polls PyErr_CheckSignals (at most every 50 ms, only on
// the thread that started the run, where Python runs its signal handlers), so Ctrl-C stops the run; the
// exception the handler raised (KeyboardInterrupt) is then raised in place of fp4gptq.Cancelled.
// A signal handler may also run inside Python code the run calls (a logging handler): the log bridge hands
// the exception it raised to the watch of its thread (take_pending) instead of dropping it.
class SignalWatch {
 public:
  SignalWatch() = default;
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;
  ~SignalWatch();  // with the GIL
  void arm();     // with the GIL, on the thread about to run the work; it becomes this thread's active watch
  void disarm();  // no longer the thread's active watch
  bool poll();    // the hook: from any thread, without the GIL
  void rethrow_if_signalled();  // with the GIL: raises the handler's exception, if a signal stopped the run
  void take_pending();          // with the GIL and an exception set: keeps it and stops the run
  static SignalWatch* active();  // the armed watch of the calling thread, or null

 private:
  std::thread::id owner_;
  std::atomic<bool> stop_{false};
  std::chrono::steady_clock::time_point last_{};
  PyObject *type_ = nullptr, *value_ = nullptr, *traceback_ = nullptr;
};

// Runs `work` without the GIL under `watch`. A signal's exception (KeyboardInterrupt) is raised whatever the
// run ended with: Cancelled, another error, or a result when the handler ran after the last poll.
template <class F>
auto run_watched(SignalWatch& watch, F&& work) {
  watch.arm();
  struct Disarm {
    SignalWatch& w;
    ~Disarm() { w.disarm(); }
  } disarm{watch};
  try {
    auto result = [&] {
      py::gil_scoped_release nogil;
      return work();
    }();
    watch.rethrow_if_signalled();
    return result;
  } catch (const py::error_already_set&) {
    throw;
  } catch (...) {
    watch.rethrow_if_signalled();
    throw;
  }
}

// work(config) with config.cancelled polling Ctrl-C (a QuantizeConfig, EvalConfig or ExportConfig), as run_watched.
template <class C, class F>
auto run_cancellable(C& config, F&& work) {
  SignalWatch watch;
  config.cancelled = [&watch] { return watch.poll(); };
  return run_watched(watch, [&] { return work(config); });
}

// Token ids of one sequence: a list of ints, an object with the buffer protocol (numpy arrays), or one with
// __array__ / tolist() (torch tensors, without importing torch); 1-D or [1, L]. `what` names it in errors.
Example to_ids(py::handle ids, const std::string& what);
// AutoGPTQ's examples: a list of dicts with "input_ids" (and optional "attention_mask", whose 0 positions
// are dropped), or of plain id sequences.
std::vector<Example> to_examples(py::handle examples);

// A QuantizeConfig from the fields BaseQuantizeConfig passes (python/fp4gptq/quantization/config.py).
QuantizeConfig config_from(const py::dict& fields);

// The value of one of a name table's spellings (fp4gptq.hpp, tokenizer.hpp), or an error naming `what` and
// listing them.
template <class E>
E parse_name(const std::map<std::string, E>& names, const std::string& s, const std::string& what) {
  if (const auto it = names.find(s); it != names.end()) return it->second;
  std::string ok;
  for (const auto& [n, e] : names) ok += (ok.empty() ? "" : ", ") + n;
  throw Error(what + ": \"" + s + "\" is not one of " + ok);
}

// Option names as the CLI spells them (an InvalidInputError listing the spellings otherwise).
BosPolicy bos_of(const std::string& name);
Compute compute_of(const std::string& name);
// load_calibration without the GIL, from the keywords of BaseQuantizeConfig (or of fp4gptq.load_examples).
std::vector<Example> read_calibration(const std::filesystem::path& file, const std::filesystem::path& tokenizer,
                                      const std::string& bos, int64_t nsamples, int64_t seqlen,
                                      const std::string& mode, std::optional<uint64_t> seed,
                                      const std::string& text_field, int64_t vocab, CalibrationSummary& summary);
py::dict summary_to_dict(const CalibrationSummary& summary);

void bind_tokenizer(py::module_& m);
void bind_model(py::module_& m);

}  // namespace fp4gptq::python
