#pragma once
// A read-only memory map of a whole file. Pages can be released after use (madvise DONTNEED) so that
// streaming over a model larger than RAM keeps the resident set bounded.
#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace fp4gptq::io {

class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }
  // Drops the resident pages of [offset, offset+len), widened to page boundaries. The mapping stays valid:
  // a later access reads the page again (from the page cache or disk).
  void release(size_t offset, size_t len) const;

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace fp4gptq::io
