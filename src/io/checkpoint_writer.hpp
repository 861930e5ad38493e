#pragma once
// Writes the pseudo-quantized checkpoint directory of docs/DESIGN.md §7: the main fp16 file (sharded by
// --max-shard-size), the scales file, model.safetensors.index.json and any JSON/side files, all inside a
// StagedDir that is renamed into place by commit().
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/safetensors_writer.hpp"
#include "io/staged_dir.hpp"

namespace fp4gptq::io {

inline constexpr const char* kModelFileBase = "pseudo_quantized_model-4bit-16g";

struct CheckpointPlan {
  std::vector<TensorSpec> model_tensors;  // main file(s), in this order
  std::vector<TensorSpec> scale_tensors;  // the scales file
  uint64_t max_shard_bytes = 0;           // 0: one main file
  std::string file_base = kModelFileBase;  // <file_base>.safetensors (or -0000k-of-0000n), <file_base>_scales.safetensors
  bool scales_file = true;                 // false: no scales file (the packed formats keep scales beside the weights)
};

// "5GB" (10^9), "500MB", "2GiB" (2^30), "1000" (bytes); an error naming `what` (e.g. the option) otherwise.
uint64_t parse_size(const std::string& text, const std::string& what);

// CRC-32 of everything that fixes the files' layout: every tensor's name, dtype and shape, and the shard size.
uint32_t layout_checksum(const CheckpointPlan& plan);

class CheckpointWriter {
 public:
  CheckpointWriter(const std::filesystem::path& out_dir, bool overwrite, const CheckpointPlan& plan);
  // Builds in `staging` (e.g. StagedDir::scratch under a work directory); the final directory is named by
  // commit_to().
  CheckpointWriter(StagedDir staging, const CheckpointPlan& plan);

  void write_model_part(const std::string& name, uint64_t offset, const void* data, uint64_t nbytes);
  void write_scale(const std::string& name, const void* data, uint64_t nbytes);
  void write_scale_part(const std::string& name, uint64_t offset, const void* data, uint64_t nbytes);
  const TensorSpec& model_spec(const std::string& name) const;
  // Name of the main file holding a tensor (for reports and tests).
  std::string model_file_of(const std::string& name) const;
  size_t shard_count() const { return shards_.size(); }
  const std::string& file_base() const { return file_base_; }

  // Resumable runs: when the staging directory was kept from a killed run, its files are reopened as they
  // are (resumed()); every tensor (main and scales) by name; counts tensors as written; forces everything
  // written so far to disk; CRC-32 of tensors' bytes on disk, in the order given; CRC-32 of all the headers.
  bool resumed() const;
  std::vector<std::string> tensor_names() const;
  void mark_written(const std::vector<std::string>& names);
  void sync() const;
  uint32_t checksum(const std::vector<std::string>& names) const;
  uint32_t layout_checksum() const { return layout_crc_; }
  const std::filesystem::path& staging_path() const { return staged_.path(); }
  void keep_staging_on_failure(bool keep) { staged_.keep_on_failure(keep); }

  void write_json(const std::string& filename, const nlohmann::ordered_json& j) const;
  void copy_file(const std::filesystem::path& src) const;
  // Finishes every file (all tensors must be complete), writes the index and renames the directory.
  void commit();
  void commit_to(const std::filesystem::path& out_dir, bool overwrite,
                 const std::vector<std::filesystem::path>& inputs = {});

 private:
  void finish_files();
  SafetensorsWriter& file_of(const std::string& name) const;
  StagedDir staged_;
  std::vector<std::unique_ptr<SafetensorsWriter>> shards_;
  std::vector<std::string> shard_names_;
  std::string file_base_;
  std::unordered_map<std::string, size_t> shard_of_;
  std::unique_ptr<SafetensorsWriter> scales_;
  std::vector<std::string> model_order_, scale_order_;
  uint64_t total_bytes_ = 0;
  uint32_t layout_crc_ = 0;
};

}  // namespace fp4gptq::io
