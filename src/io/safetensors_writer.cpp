#include "io/safetensors_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "fp4gptq/error.hpp"
#include "io/crc32.hpp"

namespace fp4gptq::io {

namespace {

void pwrite_all(int fd, const void* data, uint64_t n, uint64_t offset, const std::filesystem::path& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(path.string() + ": write failed: " + std::strerror(errno), ErrorKind::Internal);
    }
    p += w;
    n -= static_cast<uint64_t>(w);
    offset += static_cast<uint64_t>(w);
  }
}

}  // namespace

SafetensorsWriter::SafetensorsWriter(std::filesystem::path path, std::vector<TensorSpec> specs,
                                     std::map<std::string, std::string> metadata, bool keep)
    : path_(std::move(path)), temp_path_(path_.string() + ".partial"), keep_(keep) {
  // Plan: tensors packed in the given order; the JSON header padded with spaces to a multiple of 8 bytes.
  // The header object is written entry by entry (what ordered_json's dump() gives, without building an
  // ordered_json, whose inserts compare against every earlier key: quadratic for 10^5 tensors).
  std::string text = "{";
  if (!metadata.empty()) text += "\"__metadata__\":" + nlohmann::ordered_json(metadata).dump();
  uint64_t offset = 0;
  for (auto& s : specs) {
    if (slots_.count(s.name) || s.name == "__metadata__")
      throw Error(path_.string() + ": tensor '" + s.name + "' planned twice");
    const uint64_t n = s.nbytes();
    const nlohmann::ordered_json entry = {{"dtype", std::string(numeric::dtype_name(s.dtype))},
                                          {"shape", s.shape},
                                          {"data_offsets", {offset, offset + n}}};
    text += (text.size() > 1 ? "," : "") + nlohmann::ordered_json(s.name).dump() + ":" + entry.dump();
    order_.push_back(s.name);
    const std::string name = s.name;
    slots_.emplace(name, Slot{std::move(s), offset, 0});
    offset += n;
  }
  text += "}";
  data_bytes_ = offset;
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t data_start = 8 + text.size();
  for (auto& [name, slot] : slots_) slot.offset += data_start;

  header_text_ = text;
  if (keep_ && reopen()) return;
  fd_ = ::open(temp_path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(temp_path_.string() + ": cannot create: " + std::strerror(errno), ErrorKind::Internal);
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(text.size() >> (8 * i));
  pwrite_all(fd_, len, 8, 0, temp_path_);
  pwrite_all(fd_, text.data(), text.size(), 8, temp_path_);
  if (::ftruncate(fd_, static_cast<off_t>(data_start + data_bytes_)) != 0)
    throw Error(temp_path_.string() + ": cannot size the file: " + std::strerror(errno), ErrorKind::Internal);
}

bool SafetensorsWriter::reopen() {
  std::error_code ec;
  // A kill during the final renames may have left this file finished already: take it back.
  if (!std::filesystem::exists(temp_path_, ec) && std::filesystem::exists(path_, ec))
    std::filesystem::rename(path_, temp_path_, ec);
  const int fd = ::open(temp_path_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  const uint64_t n = 8 + header_text_.size();
  std::string head(n, '\0');
  const bool same = ::pread(fd, head.data(), n, 0) == static_cast<ssize_t>(n) &&
                    head.compare(8, std::string::npos, header_text_) == 0 &&
                    static_cast<uint64_t>(::lseek(fd, 0, SEEK_END)) == n + data_bytes_;
  if (!same) {  // never truncated here: the run being resumed must survive a refused resume
    ::close(fd);
    throw Error(temp_path_.string() +
                ": cannot resume: the file does not hold the planned header (damaged?); run without resuming to "
                "start over");
  }
  fd_ = fd;
  reused_ = true;
  return true;
}

void SafetensorsWriter::mark_written(const std::string& name) {
  auto& s = slot(name);
  s.written = s.spec.nbytes();
}

void SafetensorsWriter::sync() const {
  if (fd_ >= 0 && ::fdatasync(fd_) != 0)
    throw Error(temp_path_.string() + ": cannot flush to disk: " + std::strerror(errno), ErrorKind::Internal);
}

uint32_t SafetensorsWriter::crc32(const std::string& name, uint32_t crc) const {
  const auto it = slots_.find(name);
  if (it == slots_.end()) throw Error(path_.string() + ": tensor '" + name + "' is not in the planned header");
  std::vector<unsigned char> buf(1 << 20);
  for (uint64_t done = 0, n = it->second.spec.nbytes(); done < n;) {
    const uint64_t c = std::min<uint64_t>(buf.size(), n - done);
    const ssize_t r = ::pread(fd_, buf.data(), c, static_cast<off_t>(it->second.offset + done));
    if (r <= 0) throw Error(temp_path_.string() + ": cannot read back tensor '" + name + "'");
    crc = io::crc32(buf.data(), static_cast<size_t>(r), crc);
    done += static_cast<uint64_t>(r);
  }
  return crc;
}

SafetensorsWriter::~SafetensorsWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_ && !keep_) ::unlink(temp_path_.c_str());
}

SafetensorsWriter::Slot& SafetensorsWriter::slot(const std::string& name) {
  const auto it = slots_.find(name);
  if (it == slots_.end()) throw Error(path_.string() + ": tensor '" + name + "' is not in the planned header");
  return it->second;
}

const TensorSpec& SafetensorsWriter::spec(const std::string& name) const {
  const auto it = slots_.find(name);
  if (it == slots_.end()) throw Error(path_.string() + ": tensor '" + name + "' is not in the planned header");
  return it->second.spec;
}

void SafetensorsWriter::write(const std::string& name, const void* data, uint64_t nbytes) {
  const auto& s = slot(name);
  if (nbytes != s.spec.nbytes())
    throw Error(path_.string() + ": tensor '" + name + "' is " + std::to_string(s.spec.nbytes()) + " bytes, got " +
                std::to_string(nbytes));
  write_part(name, 0, data, nbytes);
}

void SafetensorsWriter::write_part(const std::string& name, uint64_t offset, const void* data, uint64_t nbytes) {
  if (finished_) throw Error(path_.string() + ": write after finish()");
  auto& s = slot(name);
  if (offset + nbytes > s.spec.nbytes())
    throw Error(path_.string() + ": tensor '" + name + "': write of bytes [" + std::to_string(offset) + ", " +
                std::to_string(offset + nbytes) + ") past its size " + std::to_string(s.spec.nbytes()));
  pwrite_all(fd_, data, nbytes, s.offset + offset, temp_path_);
  s.written += nbytes;
}

void SafetensorsWriter::finish() {
  if (finished_) return;
  for (const auto& name : order_) {
    const auto& s = slots_.at(name);
    if (s.written != s.spec.nbytes())
      throw Error(path_.string() + ": tensor '" + name + "' incomplete (" + std::to_string(s.written) + " of " +
                  std::to_string(s.spec.nbytes()) + " bytes written)");
  }
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw Error(temp_path_.string() + ": close failed: " + std::strerror(errno), ErrorKind::Internal);
  }
  fd_ = -1;
  std::error_code ec;
  std::filesystem::rename(temp_path_, path_, ec);
  if (ec) throw Error(path_.string() + ": cannot rename from " + temp_path_.string() + ": " + ec.message(), ErrorKind::Internal);
  finished_ = true;
}

}  // namespace fp4gptq::io
