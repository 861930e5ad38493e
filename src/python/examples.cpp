#include <cstring>
#include <limits>

#include "python/bindings.hpp"

namespace fp4gptq::python {

namespace {

[[noreturn]] void bad(const std::string& what, const std::string& why) { throw Error(what + ": " + why); }

std::string type_name(py::handle o) { return py::str(py::type::handle_of(o).attr("__name__")); }

bool is_text(py::handle o) {
  return PyUnicode_Check(o.ptr()) || PyBytes_Check(o.ptr()) || PyByteArray_Check(o.ptr());
}

// The dtype a buffer format stands for, for messages ("float32"); the struct module's codes.
std::string format_name(char code, ssize_t size) {
  switch (code) {
    case '?': return "bool";
    case 'e': return "float16";
    case 'f': return "float32";
    case 'd': return "float64";
    default: return std::string("format '") + code + "' of " + std::to_string(size) + " bytes";
  }
}

void check_range(int64_t v, size_t at, const std::string& what) {
  if (v < 0 || v > std::numeric_limits<int32_t>::max())
    bad(what, "token id " + std::to_string(v) + " at position " + std::to_string(at) + " is not a valid id (0 to 2^31-1)");
}

// numpy arrays and anything else with the buffer protocol: integer elements of any width, 1-D or [1, L].
Example from_buffer(py::handle o, const std::string& what) {
  const py::buffer_info info = py::reinterpret_borrow<py::buffer>(o).request();
  if (info.ndim == 2 && info.shape[0] != 1)
    bad(what, "shape [" + std::to_string(info.shape[0]) + ", " + std::to_string(info.shape[1]) +
                  "] holds a batch; give one sequence per example ([L] or [1, L])");
  if (info.ndim != 1 && info.ndim != 2)
    bad(what, std::to_string(info.ndim) + "-D array; token ids are [L] or [1, L]");
  std::string fmt = info.format;
  while (!fmt.empty() && std::strchr("@=<>!", fmt.front())) fmt.erase(0, 1);
  const char code = fmt.size() == 1 ? fmt[0] : '\0';
  const bool is_signed = code && std::strchr("bhilq", code), is_unsigned = code && std::strchr("BHILQ", code);
  if (!is_signed && !is_unsigned)
    bad(what, "dtype " + format_name(code ? code : '?', info.itemsize) + "; token ids must be integers");
  const ssize_t n = info.shape[info.ndim - 1], stride = info.strides[info.ndim - 1], size = info.itemsize;
  Example ids(static_cast<size_t>(n));
  const auto* base = static_cast<const char*>(info.ptr);
  for (ssize_t i = 0; i < n; ++i) {
    const char* p = base + i * stride;
    int64_t v = 0;
    if (is_signed) {
      if (size == 1) v = *reinterpret_cast<const int8_t*>(p);
      if (size == 2) { int16_t x; std::memcpy(&x, p, 2); v = x; }
      if (size == 4) { int32_t x; std::memcpy(&x, p, 4); v = x; }
      if (size == 8) std::memcpy(&v, p, 8);
    } else {
      uint64_t u = 0;
      std::memcpy(&u, p, static_cast<size_t>(std::min<ssize_t>(size, 8)));  // little-endian
      v = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? -1 : static_cast<int64_t>(u);
    }
    check_range(v, static_cast<size_t>(i), what);
    ids[static_cast<size_t>(i)] = static_cast<int32_t>(v);
  }
  return ids;
}

// A list or tuple of ints (anything with __index__ but bool), or one such list inside another ([1, L]).
Example from_sequence(py::handle o, const std::string& what) {
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(o.ptr());  // o is a list or a tuple
  PyObject** items = PySequence_Fast_ITEMS(o.ptr());
  const py::handle first = n > 0 ? items[0] : nullptr;
  if (n > 0 && !PyIndex_Check(first.ptr()) && !is_text(first) && PySequence_Check(first.ptr())) {
    if (n != 1)
      bad(what, "a batch of " + std::to_string(n) + " sequences; give one sequence per example ([L] or [1, L])");
    return to_ids(first, what);
  }
  Example ids(static_cast<size_t>(n));
  for (size_t i = 0; i < ids.size(); ++i) {
    const py::handle v = items[i];
    if (PyBool_Check(v.ptr()) || !PyIndex_Check(v.ptr()))
      bad(what, "element " + std::to_string(i) + " is a " + type_name(v) + "; token ids must be integers");
    int overflow = 0;
    // Python ints as they are; anything else with __index__ (numpy integers) through it.
    const py::object index = PyLong_Check(v.ptr()) ? py::reinterpret_borrow<py::object>(v)
                                                   : py::reinterpret_steal<py::object>(PyNumber_Index(v.ptr()));
    if (!index) throw py::error_already_set();
    const long long x = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (overflow) bad(what, "token id at position " + std::to_string(i) + " does not fit in 64 bits");
    check_range(x, i, what);
    ids[i] = static_cast<int32_t>(x);
  }
  return ids;
}

}  // namespace

Example to_ids(py::handle o, const std::string& what) {
  if (o.is_none()) bad(what, "None; token ids are expected");
  if (is_text(o)) bad(what, "a " + type_name(o) + "; token ids are expected (encode text with fp4gptq.AutoTokenizer)");
  if (PyObject_CheckBuffer(o.ptr())) return from_buffer(o, what);
  if (PyList_Check(o.ptr()) || PyTuple_Check(o.ptr())) return from_sequence(o, what);
  // torch.Tensor and other array-likes: numpy's view of them when numpy is there, else their tolist().
  if (py::hasattr(o, "__array__")) {
    try {
      const auto numpy = py::module_::import("numpy");
      return from_buffer(numpy.attr("asarray")(o), what);
    } catch (const py::error_already_set&) {
      if (!py::hasattr(o, "tolist")) throw;
    }
  }
  if (py::hasattr(o, "tolist")) return to_ids(o.attr("tolist")(), what);
  bad(what, "a " + type_name(o) + "; token ids are a list of ints, a numpy array or a tensor");
}

std::vector<Example> to_examples(py::handle examples) {
  if (is_text(examples) || PyDict_Check(examples.ptr()) || !py::hasattr(examples, "__iter__"))
    bad("examples", "a " + type_name(examples) + "; a list of examples is expected (dicts with \"input_ids\", or id lists)");
  std::vector<Example> out;
  size_t i = 0;
  for (const auto item : examples) {
    const std::string what = "examples[" + std::to_string(i++) + "]";
    const bool mapping = PyDict_Check(item.ptr()) || (py::hasattr(item, "keys") && py::hasattr(item, "__getitem__"));
    if (!mapping) {
      out.push_back(to_ids(item, what));
      continue;
    }
    const auto d = py::reinterpret_borrow<py::object>(item);
    if (!py::bool_(d.attr("__contains__")("input_ids"))) bad(what, "no \"input_ids\"");
    Example ids = to_ids(d["input_ids"], what + "[\"input_ids\"]");
    if (py::bool_(d.attr("__contains__")("attention_mask")) && !d["attention_mask"].is_none()) {
      const std::string mw = what + "[\"attention_mask\"]";
      const Example mask = to_ids(d["attention_mask"], mw);
      if (mask.size() != ids.size())
        bad(mw, std::to_string(mask.size()) + " values for " + std::to_string(ids.size()) + " input_ids");
      Example kept;
      for (size_t k = 0; k < ids.size(); ++k) {
        if (mask[k] > 1) bad(mw, "values must be 0 or 1, got " + std::to_string(mask[k]));
        if (mask[k]) kept.push_back(ids[k]);
      }
      if (kept.empty() && !ids.empty()) bad(what, "no tokens left after attention_mask");
      ids = std::move(kept);
    }
    out.push_back(std::move(ids));
  }
  if (out.empty()) bad("examples", "empty; GPTQ needs at least one calibration example");
  return out;
}

}  // namespace fp4gptq::python
