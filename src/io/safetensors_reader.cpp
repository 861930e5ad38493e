#include "io/safetensors_reader.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "fp4gptq/error.hpp"
#include "io/json_file.hpp"

namespace fp4gptq::io {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

uint64_t numel(const Shape& s) {
  uint64_t n = 1;
  for (auto d : s) n *= static_cast<uint64_t>(d);
  return n;
}

namespace {

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what) {
  throw Error(file.string() + ": " + what);
}

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Parses one tensor entry; `what` names it in errors.
TensorInfo parse_entry(const std::filesystem::path& file, const std::string& name, const nlohmann::json& e,
                       uint64_t data_size) {
  const std::string where = "tensor '" + name + "': ";
  if (!e.is_object()) fail(file, where + "header entry is not a JSON object");
  if (!e.contains("dtype") || !e["dtype"].is_string()) fail(file, where + "missing string field 'dtype'");
  const std::string dt = e["dtype"].get<std::string>();
  const auto dtype = numeric::dtype_from_name(dt);
  if (!dtype) fail(file, where + "unknown dtype '" + dt + "' (expected one of " + numeric::known_dtype_names() + ")");
  if (!e.contains("shape") || !e["shape"].is_array()) fail(file, where + "missing array field 'shape'");
  TensorInfo t{name, *dtype, {}, 0, 0};
  uint64_t count = 1;
  for (const auto& d : e["shape"]) {
    if (!d.is_number_unsigned()) fail(file, where + "shape " + e["shape"].dump() + " must hold non-negative integers");
    const uint64_t v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        (v != 0 && count > std::numeric_limits<uint64_t>::max() / v))
      fail(file, where + "shape " + e["shape"].dump() + " overflows");
    count *= v;
    t.shape.push_back(static_cast<int64_t>(v));
  }
  const auto& off = e.contains("data_offsets") ? e["data_offsets"] : nlohmann::json();
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    fail(file, where + "'data_offsets' must be [begin, end] with non-negative integers");
  t.begin = off[0].get<uint64_t>();
  t.end = off[1].get<uint64_t>();
  if (t.begin > t.end) fail(file, where + "data_offsets " + off.dump() + " has begin > end");
  if (t.end > data_size)
    fail(file, where + "data_offsets " + off.dump() + " end beyond the data area (" + std::to_string(data_size) +
                   " bytes; file truncated?)");
  const uint64_t size = numeric::dtype_size(*dtype);
  if (count > std::numeric_limits<uint64_t>::max() / size || count * size != t.end - t.begin)
    fail(file, where + "shape " + shape_str(t.shape) + " x " + dt + " needs " + std::to_string(count * size) +
                   " bytes but data_offsets span " + std::to_string(t.end - t.begin));
  return t;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(std::span<const std::byte> file, const std::filesystem::path& path) {
  const uint64_t file_size = file.size();
  if (file_size < 8)
    fail(path,
         "file is " + std::to_string(file_size) + " bytes; a safetensors file starts with an 8-byte header length");
  const uint64_t header_len = read_u64_le(file.data());
  if (header_len > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  if (header_len > file_size - 8)
    fail(path, "header length " + std::to_string(header_len) + " exceeds the file size " + std::to_string(file_size) +
                   " (file truncated?)");
  SafetensorsHeader out;
  out.data_start = 8 + header_len;
  const uint64_t data_size = file_size - out.data_start;

  // {name: {dtype, shape, data_offsets}} and __metadata__ {key: value}: nothing nests deeper than 3.
  constexpr JsonLimits kHeaderLimits{kMaxHeaderBytes, 8, 100'000'000, 1'000'000};
  const auto header = parse_json_unordered(
      std::string_view(reinterpret_cast<const char*>(file.data() + 8), header_len), path.string() + ": header",
      kHeaderLimits);
  if (!header.is_object()) fail(path, "header is not a JSON object");

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path, "'__metadata__' must be an object of strings");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail(path, "'__metadata__' value of '" + k + "' is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    out.tensors.push_back(parse_entry(path, name, entry, data_size));
  }
  auto& t = out.tensors;
  std::sort(t.begin(), t.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < t.size(); ++i) {
    const auto& prev = t[i - 1];
    const auto& cur = t[i];
    if (cur.begin < prev.end)
      fail(path, "tensor '" + cur.name + "' data [" + std::to_string(cur.begin) + ", " + std::to_string(cur.end) +
                     ") overlaps tensor '" + prev.name + "' [" + std::to_string(prev.begin) + ", " +
                     std::to_string(prev.end) + ")");
  }
  return out;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : map_(path) {
  auto h = parse_safetensors_header({map_.data(), map_.size()}, path);
  data_start_ = h.data_start;
  tensors_ = std::move(h.tensors);
  metadata_ = std::move(h.metadata);
  for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::at(std::string_view name) const {
  if (const auto* t = find(name)) return *t;
  fail(path(), "no tensor named '" + std::string(name) + "'");
}

const TensorInfo& SafetensorsFile::expect(std::string_view name, DType dtype, uint64_t numel) const {
  const auto& t = at(name);
  if (t.dtype != dtype || t.numel() != numel)
    fail(path(), "tensor '" + std::string(name) + "' is " + std::string(numeric::dtype_name(t.dtype)) + " " +
                     shape_str(t.shape) + "; " + std::string(numeric::dtype_name(dtype)) + " with " +
                     std::to_string(numel) + " elements expected");
  return t;
}

std::span<const std::byte> SafetensorsFile::bytes(const TensorInfo& t) const {
  return {map_.data() + data_start_ + t.begin, t.nbytes()};
}

std::vector<float> SafetensorsFile::read_f32(const TensorInfo& t) const {
  std::vector<float> out(t.numel());
  read_f32(t, 0, out.size(), out.data());
  return out;
}

void SafetensorsFile::read_f32(const TensorInfo& t, uint64_t first, uint64_t count, float* out) const {
  if (!numeric::is_float(t.dtype))
    fail(path(), "tensor '" + t.name + "' has dtype " + std::string(numeric::dtype_name(t.dtype)) +
                     "; a float tensor was expected");
  if (first + count > t.numel()) fail(path(), "tensor '" + t.name + "': read past its end");
  const size_t esize = numeric::dtype_size(t.dtype);
  numeric::to_f32(t.dtype, bytes(t).data() + first * esize, out, count);
}

void SafetensorsFile::release(const TensorInfo& t) const { map_.release(data_start_ + t.begin, t.nbytes()); }

void SafetensorsFile::release(const TensorInfo& t, uint64_t first, uint64_t count) const {
  const size_t esize = numeric::dtype_size(t.dtype);
  map_.release(data_start_ + t.begin + first * esize, count * esize);
}

void SafetensorsFile::release_all() const { map_.release(0, map_.size()); }

}  // namespace fp4gptq::io
