#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "python/bindings.hpp"

namespace fp4gptq::python {

namespace {

Example to_sequence(py::handle o, const std::string& what, bool mask);

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

// numpy arrays and anything else with the buffer protocol: integer elements of 1, 2, 4 or 8 bytes in either
// byte order (bools too for a mask), any strides, 1-D or [1, L].
Example from_buffer(py::handle o, const std::string& what, bool mask) {
  const py::buffer_info info = py::reinterpret_borrow<py::buffer>(o).request();
  if (info.ndim == 2 && info.shape[0] != 1)
    bad(what, "shape [" + std::to_string(info.shape[0]) + ", " + std::to_string(info.shape[1]) +
                  "] holds " + (info.shape[0] ? "a batch" : "no sequence") + "; give one sequence per example ([L] or [1, L])");
  if (info.ndim != 1 && info.ndim != 2)
    bad(what, std::to_string(info.ndim) + "-D array; token ids are [L] or [1, L]");
  std::string fmt = info.format;
  bool swap = false;  // big-endian data on this little-endian host, or the other way round
  while (!fmt.empty() && std::strchr("@=<>!", fmt.front())) {
    const char order = fmt.front();
    if (order == '<' || order == '>' || order == '!')
      swap = (order == '<') != (std::endian::native == std::endian::little);
    fmt.erase(0, 1);
  }
  const char code = fmt.size() == 1 ? fmt[0] : '\0';
  const ssize_t size = info.itemsize;
  const bool is_signed = code && std::strchr("bhilq", code),
             is_unsigned = code && (std::strchr("BHILQ", code) || (mask && code == '?'));
  if ((!is_signed && !is_unsigned) || !(size == 1 || size == 2 || size == 4 || size == 8))
    bad(what, "dtype " + format_name(code ? code : '?', size) + "; " +
                  (mask ? "an attention mask holds integers or bools" : "token ids must be integers"));
  const ssize_t n = info.shape[info.ndim - 1], stride = info.strides[info.ndim - 1];
  Example ids(static_cast<size_t>(n));
  const auto* base = static_cast<const unsigned char*>(info.ptr);
  for (ssize_t i = 0; i < n; ++i) {
    unsigned char b[8];
    std::memcpy(b, base + i * stride, static_cast<size_t>(size));
    if (swap) std::reverse(b, b + size);
    uint64_t u = 0;  // the element's bits, little-endian
    for (ssize_t k = size - 1; k >= 0; --k) u = (u << 8) | b[k];
    const int bits = static_cast<int>(size) * 8;
    if (is_signed && bits < 64 && (u >> (bits - 1)) & 1) u |= ~uint64_t{0} << bits;  // sign-extend
    if (!is_signed && u > static_cast<uint64_t>(std::numeric_limits<int32_t>::max()))
      bad(what, "token id " + std::to_string(u) + " at position " + std::to_string(i) +
                    " is not a valid id (0 to 2^31-1)");
    const auto v = static_cast<int64_t>(u);
    check_range(v, static_cast<size_t>(i), what);
    ids[static_cast<size_t>(i)] = static_cast<int32_t>(v);
  }
  return ids;
}

bool is_bool(py::handle v) {  // Python's bool, and numpy's (whose __index__ would read it as 0 or 1)
  return PyBool_Check(v.ptr()) || std::string(Py_TYPE(v.ptr())->tp_name) == "numpy.bool_";
}

// A sequence inside a sequence ([1, L]): a list, a tuple, or an array of at least one dimension.
bool is_nested(py::handle v) {
  if (PyList_Check(v.ptr()) || PyTuple_Check(v.ptr())) return true;
  if (PyLong_Check(v.ptr()) || is_text(v)) return false;
  if (!PyObject_CheckBuffer(v.ptr()) && !py::hasattr(v, "__array__") && !py::hasattr(v, "tolist")) return false;
  return py::hasattr(v, "ndim") && py::cast<int64_t>(v.attr("ndim")) >= 1;
}

// A list or tuple of ints (anything with __index__ but bool; bools too for a mask), or one sequence inside
// another ([1, L]). Items are re-read by index: a conversion may run Python code that changes the list.
Example from_sequence(py::handle o, const std::string& what, bool mask) {
  const auto size = [&] { return static_cast<size_t>(PySequence_Fast_GET_SIZE(o.ptr())); };  // a list or tuple
  const auto item = [&](size_t i) {
    return py::reinterpret_borrow<py::object>(PySequence_Fast_GET_ITEM(o.ptr(), static_cast<Py_ssize_t>(i)));
  };
  if (size() > 0 && is_nested(item(0))) {
    if (size() != 1)
      bad(what, "a batch of " + std::to_string(size()) + " sequences; give one sequence per example ([L] or [1, L])");
    return to_sequence(item(0), what, mask);
  }
  Example ids;
  ids.reserve(size());
  for (size_t i = 0; i < size(); ++i) {
    const py::object v = item(i);
    if ((!mask && is_bool(v)) || !PyIndex_Check(v.ptr()))
      bad(what, "element " + std::to_string(i) + " is a " + type_name(v) + "; " +
                    (mask ? "an attention mask holds 0 and 1" : "token ids must be integers"));
    int overflow = 0;
    // Python ints as they are; anything else with __index__ (numpy integers) through it.
    const py::object index = PyLong_Check(v.ptr()) ? v : py::reinterpret_steal<py::object>(PyNumber_Index(v.ptr()));
    if (!index) throw py::error_already_set();
    const long long x = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (overflow) bad(what, "token id at position " + std::to_string(i) + " does not fit in 64 bits");
    check_range(x, i, what);
    ids.push_back(static_cast<int32_t>(x));
  }
  return ids;
}

// Both kinds of sequence: ids, or (mask) an attention mask, which may also hold bools.
Example to_sequence(py::handle o, const std::string& what, bool mask) {
  if (o.is_none()) bad(what, "None; token ids are expected");
  if (is_text(o)) bad(what, "a " + type_name(o) + "; token ids are expected (encode text with fp4gptq.AutoTokenizer)");
  if (PyObject_CheckBuffer(o.ptr())) return from_buffer(o, what, mask);
  if (PyList_Check(o.ptr()) || PyTuple_Check(o.ptr())) return from_sequence(o, what, mask);
  // torch.Tensor and other array-likes: numpy's view of them when numpy is there, else their tolist().
  if (py::hasattr(o, "__array__")) {
    try {
      const auto numpy = py::module_::import("numpy");
      return from_buffer(numpy.attr("asarray")(o), what, mask);
    } catch (const py::error_already_set&) {
      if (!py::hasattr(o, "tolist")) throw;
    }
  }
  if (py::hasattr(o, "tolist")) return to_sequence(o.attr("tolist")(), what, mask);
  bad(what, "a " + type_name(o) + "; token ids are a list of ints, a numpy array or a tensor");
}

}  // namespace

Example to_ids(py::handle o, const std::string& what) { return to_sequence(o, what, false); }

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
      const Example mask = to_sequence(d["attention_mask"], mw, true);
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
