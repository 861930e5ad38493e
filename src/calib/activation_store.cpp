#include "calib/activation_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fp4gptq/error.hpp"
#include "numeric/half.hpp"

namespace fp4gptq::calib {

namespace {

void io_all(bool write, int fd, void* buf, size_t n, uint64_t off) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t r = write ? ::pwrite(fd, p, n, static_cast<off_t>(off)) : ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      throw Error(std::string("activation offload file: ") + (write ? "write" : "read") +
                  " failed: " + std::strerror(errno), ErrorKind::Internal);
    p += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
}

}  // namespace

ActivationStore::ActivationStore(numeric::DType dtype, int64_t rows, int64_t width) { reset(dtype, rows, width); }

ActivationStore::~ActivationStore() { close_file(); }

ActivationStore::ActivationStore(ActivationStore&& o) noexcept { *this = std::move(o); }

ActivationStore& ActivationStore::operator=(ActivationStore&& o) noexcept {
  close_file();
  dtype_ = o.dtype_;
  rows_ = o.rows_;
  width_ = o.width_;
  f32_ = std::move(o.f32_);
  bf16_ = std::move(o.bf16_);
  fd_ = o.fd_;
  o.fd_ = -1;
  return *this;
}

void ActivationStore::close_file() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void ActivationStore::reset(numeric::DType dtype, int64_t rows, int64_t width, const std::filesystem::path* spill_dir) {
  if (dtype != numeric::DType::BF16 && dtype != numeric::DType::F32)
    throw Error("activation dtype must be bfloat16 or float32");
  dtype_ = dtype;
  rows_ = rows;
  width_ = width;
  const size_t n = static_cast<size_t>(rows * width);
  if (spill_dir) {
    f32_ = {};
    bf16_ = {};
    if (fd_ < 0) {
      std::string tmpl = (*spill_dir / "fp4gptq-activations-XXXXXX").string();
      fd_ = ::mkstemp(tmpl.data());
      if (fd_ < 0)
        throw Error(spill_dir->string() + ": cannot create an activation offload file: " + std::strerror(errno), ErrorKind::Internal);
      ::unlink(tmpl.c_str());  // nothing is left behind, whatever happens
    }
    if (::ftruncate(fd_, static_cast<off_t>(bytes())) != 0)
      throw Error(spill_dir->string() + ": cannot size an activation offload file of " + std::to_string(bytes()) +
                  " bytes: " + std::strerror(errno), ErrorKind::Internal);
    return;
  }
  close_file();
  if (dtype == numeric::DType::BF16) {
    bf16_.resize(n);
    f32_.clear();
  } else {
    f32_.resize(n);
    bf16_.clear();
  }
}

void ActivationStore::store(int64_t row0, int64_t rows, const float* x) {
  const size_t off = static_cast<size_t>(row0 * width_), n = static_cast<size_t>(rows * width_);
  if (on_disk()) {
    if (dtype_ == numeric::DType::BF16) {
      std::vector<uint16_t> tmp(n);
      numeric::f32_to_bf16(x, tmp.data(), n);
      io_all(true, fd_, tmp.data(), n * 2, off * 2);
    } else {
      io_all(true, fd_, const_cast<float*>(x), n * 4, off * 4);
    }
  } else if (dtype_ == numeric::DType::BF16) {
    numeric::f32_to_bf16(x, &bf16_[off], n);
  } else {
    std::copy(x, x + n, &f32_[off]);
  }
}

void ActivationStore::load_raw(int64_t row0, int64_t rows, void* out) const {
  const size_t off = static_cast<size_t>(row0 * width_), n = static_cast<size_t>(rows * width_);
  const size_t es = numeric::dtype_size(dtype_);
  if (on_disk())
    io_all(false, fd_, out, n * es, off * es);
  else if (dtype_ == numeric::DType::BF16)
    std::memcpy(out, &bf16_[off], n * es);
  else
    std::memcpy(out, &f32_[off], n * es);
}

void ActivationStore::store_raw(int64_t row0, int64_t rows, const void* in) {
  const size_t off = static_cast<size_t>(row0 * width_), n = static_cast<size_t>(rows * width_);
  const size_t es = numeric::dtype_size(dtype_);
  if (on_disk())
    io_all(true, fd_, const_cast<void*>(in), n * es, off * es);
  else if (dtype_ == numeric::DType::BF16)
    std::memcpy(&bf16_[off], in, n * es);
  else
    std::memcpy(&f32_[off], in, n * es);
}

void ActivationStore::load(int64_t row0, int64_t rows, float* out) const {
  const size_t off = static_cast<size_t>(row0 * width_), n = static_cast<size_t>(rows * width_);
  if (dtype_ == numeric::DType::F32) {
    load_raw(row0, rows, out);
  } else if (!on_disk()) {
    numeric::bf16_to_f32(&bf16_[off], out, n);
  } else {
    std::vector<uint16_t> tmp(n);
    load_raw(row0, rows, tmp.data());
    numeric::bf16_to_f32(tmp.data(), out, n);
  }
}

void ActivationStore::copy_from(const ActivationStore& o) {
  constexpr int64_t kRows = 1024;
  std::vector<float> buf;
  for (int64_t r = 0; r < o.rows_; r += kRows) {
    const int64_t n = std::min(kRows, o.rows_ - r);
    buf.resize(static_cast<size_t>(n * o.width_));
    o.load(r, n, buf.data());
    store(r, n, buf.data());
  }
}

}  // namespace fp4gptq::calib
