#pragma once
// Streaming safetensors writer. The header is planned up front from (name, dtype, shape) in the given order;
// tensors are then written in any order, whole or in parts, at their offsets, so a model larger than RAM is
// written one layer at a time. The file is built under "<path>.partial" and renamed by finish(); a writer
// destroyed unfinished removes it, leaving nothing under the final name — unless it was opened with `keep`
// (a resumable run): then an unfinished file stays, and a later writer with `keep` and the same plan opens
// it again as it is (reused()), so the tensors an earlier process wrote need not be written again.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/safetensors_reader.hpp"

namespace fp4gptq::io {

struct TensorSpec {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t nbytes() const { return numel(shape) * numeric::dtype_size(dtype); }
};

class SafetensorsWriter {
 public:
  SafetensorsWriter(std::filesystem::path path, std::vector<TensorSpec> specs,
                    std::map<std::string, std::string> metadata = {}, bool keep = false);
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  bool has(const std::string& name) const { return slots_.count(name) != 0; }
  const TensorSpec& spec(const std::string& name) const;
  // Writes a whole tensor (nbytes must match its spec).
  void write(const std::string& name, const void* data, uint64_t nbytes);
  // Writes bytes [offset, offset+nbytes) of a tensor; parts must not overlap.
  void write_part(const std::string& name, uint64_t offset, const void* data, uint64_t nbytes);
  // Checks every tensor was written completely, then renames the file to its final name.
  void finish();
  // Resumable runs: the file held the planned header when opened (its tensors are as an earlier process left
  // them); counts a tensor as written; forces the written bytes to disk; CRC-32 of a tensor's bytes on disk.
  bool reused() const { return reused_; }
  void mark_written(const std::string& name);
  void sync() const;
  uint32_t crc32(const std::string& name, uint32_t crc = 0) const;
  uint64_t data_bytes() const { return data_bytes_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Slot {
    TensorSpec spec;
    uint64_t offset = 0;   // absolute file offset
    uint64_t written = 0;  // bytes written so far
  };
  Slot& slot(const std::string& name);

  bool reopen();  // opens an existing file that holds exactly the planned header

  std::filesystem::path path_, temp_path_;
  std::string header_text_;
  int fd_ = -1;
  bool finished_ = false, keep_ = false, reused_ = false;
  uint64_t data_bytes_ = 0;
  std::vector<std::string> order_;
  std::unordered_map<std::string, Slot> slots_;
};

}  // namespace fp4gptq::io
