#include "pipeline/base_logits.hpp"

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include "fp4gptq/error.hpp"
#include "io/error_kind.hpp"

namespace fp4gptq::pipeline {

namespace {

constexpr char kMagic[8] = {'F', 'P', '4', 'G', 'L', 'P', '0', '1'};
constexpr size_t kHeaderBytes = 64;  // magic, vocab, seqlen, windows (u64 each), zero padding
constexpr size_t kRecordHead = 20;   // f64 nll, i32 top1, f32 lo, f32 step

size_t record_bytes(int64_t vocab) { return kRecordHead + 2 * static_cast<size_t>(vocab); }

template <class T>
T read_at(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

LogProbCodes::LogProbCodes(double min_lp, double max_lp) {
  const double lo64 = std::max(min_lp, max_lp - kLogProbRange);
  lo = static_cast<float>(lo64);
  step = max_lp > lo64 ? static_cast<float>((max_lp - lo64) / 65535.0) : 1.0f;
}

// Rounded against the f32 values decode() gives, so the nearest code is the nearest decoded value.
uint16_t LogProbCodes::encode(double lp) const {
  const double c = std::nearbyint((lp - static_cast<double>(lo)) / static_cast<double>(step));
  return static_cast<uint16_t>(std::clamp(c, 0.0, 65535.0));
}

BaseLogitsWriter::BaseLogitsWriter(std::filesystem::path path, const BaseLogitsHeader& h,
                                   const std::vector<int32_t>& ids, bool overwrite)
    : path_(std::move(path)), temp_(path_.string() + ".partial"), h_(h) {
  std::error_code ec;
  if (std::filesystem::is_directory(path_, ec)) throw Error(path_.string() + ": is a directory, not a file");
  if (!overwrite && std::filesystem::exists(path_, ec))
    throw Error(path_.string() + ": the base-logits file exists; remove it or choose another path");
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(temp_.string() + ": cannot create: " + std::strerror(errno), ErrorKind::Internal);
  try {
    start(ids);
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    std::filesystem::remove(temp_, ec);
    throw;
  }
}

void BaseLogitsWriter::start(const std::vector<int32_t>& ids) {
  const BaseLogitsHeader& h = h_;
  unsigned char head[kHeaderBytes] = {};
  std::memcpy(head, kMagic, 8);
  const uint64_t fields[3] = {static_cast<uint64_t>(h.vocab), static_cast<uint64_t>(h.seqlen),
                              static_cast<uint64_t>(h.windows)};
  std::memcpy(head + 8, fields, sizeof fields);
  write_at(0, head, sizeof head);
  write_at(kHeaderBytes, ids.data(), static_cast<size_t>(h.windows * h.seqlen) * sizeof(int32_t));
  records_at_ = kHeaderBytes + static_cast<size_t>(h.windows * h.seqlen) * sizeof(int32_t);
  const auto size = static_cast<off_t>(records_at_ + static_cast<size_t>(h.scored()) * record_bytes(h.vocab));
  if (::ftruncate(fd_, size) != 0)
    throw Error(temp_.string() + ": cannot size to " + std::to_string(size) + " bytes: " + std::strerror(errno),
                ErrorKind::Internal);
}

BaseLogitsWriter::~BaseLogitsWriter() {
  if (fd_ < 0) return;
  ::close(fd_);
  std::error_code ec;
  std::filesystem::remove(temp_, ec);
}

void BaseLogitsWriter::write_at(size_t offset, const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd_, b, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw Error(temp_.string() + ": write failed: " + std::strerror(errno), ErrorKind::Internal);
    b += w, offset += static_cast<size_t>(w), n -= static_cast<size_t>(w);
  }
}

void BaseLogitsWriter::set_head(int64_t i, double nll, int32_t top1, const LogProbCodes& range) {
  unsigned char head[kRecordHead];
  std::memcpy(head, &nll, 8);
  std::memcpy(head + 8, &top1, 4);
  std::memcpy(head + 12, &range.lo, 4);
  std::memcpy(head + 16, &range.step, 4);
  write_at(records_at_ + static_cast<size_t>(i) * record_bytes(h_.vocab), head, sizeof head);
}

void BaseLogitsWriter::set_codes(int64_t i, int64_t v0, int64_t n, const uint16_t* codes) {
  write_at(records_at_ + static_cast<size_t>(i) * record_bytes(h_.vocab) + kRecordHead + 2 * static_cast<size_t>(v0),
           codes, 2 * static_cast<size_t>(n));
}

void BaseLogitsWriter::finish() {
  const bool synced = ::fsync(fd_) == 0;
  const int err = errno;
  const bool closed = ::close(fd_) == 0;
  fd_ = -1;
  std::error_code ec;
  if (!synced || !closed) {
    std::filesystem::remove(temp_, ec);
    throw Error(temp_.string() + ": write failed: " + std::strerror(synced ? errno : err), ErrorKind::Internal);
  }
  std::filesystem::rename(temp_, path_, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(temp_, ec);
    throw Error(path_.string() + ": cannot rename from " + temp_.string() + ": " + why, ErrorKind::Internal);
  }
}

BaseLogitsReader::BaseLogitsReader(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(path.string() + ": no base-logits file here (written by eval --save-base-logits)",
                io::open_error_kind(path));
  file_ = std::make_unique<io::MappedFile>(path);
  const auto* p = file_->data();
  const std::string what = path.string() + ": not a base-logits file of fp4gptq eval --save-base-logits: ";
  if (file_->size() < kHeaderBytes || std::memcmp(p, kMagic, 8) != 0) throw Error(what + "bad magic");
  const auto vocab = read_at<uint64_t>(p + 8), seqlen = read_at<uint64_t>(p + 16), windows = read_at<uint64_t>(p + 24);
  constexpr uint64_t kLimit = uint64_t{1} << 31;
  if (vocab == 0 || vocab >= kLimit || seqlen < 2 || seqlen >= kLimit || windows == 0 || windows >= kLimit)
    throw Error(what + "header has vocab " + std::to_string(vocab) + ", seqlen " + std::to_string(seqlen) +
                ", windows " + std::to_string(windows));
  h_ = {static_cast<int64_t>(vocab), static_cast<int64_t>(seqlen), static_cast<int64_t>(windows)};
  records_at_ = kHeaderBytes + static_cast<size_t>(windows * seqlen) * 4;  // < 2^64: each field is < 2^31
  record_bytes_ = record_bytes(h_.vocab);
  uint64_t records = 0, expected = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(h_.scored()), static_cast<uint64_t>(record_bytes_), &records) ||
      __builtin_add_overflow(static_cast<uint64_t>(records_at_), records, &expected) || file_->size() != expected)
    throw Error(what + "size " + std::to_string(file_->size()) + " bytes, " + std::to_string(expected) +
                " expected for its header (truncated or damaged)");
}

std::vector<int32_t> BaseLogitsReader::ids() const {
  std::vector<int32_t> ids(static_cast<size_t>(h_.windows * h_.seqlen));
  std::memcpy(ids.data(), file_->data() + kHeaderBytes, ids.size() * 4);
  return ids;
}

const std::byte* BaseLogitsReader::record(int64_t i) const {
  return file_->data() + records_at_ + static_cast<size_t>(i) * record_bytes_;
}

double BaseLogitsReader::nll(int64_t i) const { return read_at<double>(record(i)); }

int32_t BaseLogitsReader::top1(int64_t i) const { return read_at<int32_t>(record(i) + 8); }

void BaseLogitsReader::log_probs(int64_t i, int64_t v0, int64_t n, float* out) const {
  const auto* r = record(i);
  const float lo = read_at<float>(r + 12), step = read_at<float>(r + 16);
  const auto* codes = r + kRecordHead + 2 * static_cast<size_t>(v0);
  for (int64_t v = 0; v < n; ++v) out[v] = lo + static_cast<float>(read_at<uint16_t>(codes + 2 * v)) * step;
}

}  // namespace fp4gptq::pipeline
