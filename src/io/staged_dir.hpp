#pragma once
// An output directory built under a temporary sibling name ("<out>.partial-<pid>") and renamed into place
// by commit(), so a failed run never leaves a half-written directory under the final name. An existing
// non-empty output directory is refused unless `overwrite`; it is then replaced only at commit.
#include <filesystem>

namespace fp4gptq::io {

class StagedDir {
 public:
  StagedDir(std::filesystem::path final_dir, bool overwrite);
  ~StagedDir();
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;

  const std::filesystem::path& path() const { return staging_; }  // where files are written now
  const std::filesystem::path& final_path() const { return final_; }
  void commit();

 private:
  std::filesystem::path final_, staging_;
  bool overwrite_ = false, committed_ = false;
};

}  // namespace fp4gptq::io
