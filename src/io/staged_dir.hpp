#pragma once
// An output directory built under a temporary sibling name ("<out>.partial-<pid>") and renamed into place
// by commit(), so a failed run never leaves a half-written directory under the final name. An existing
// non-empty output directory is refused unless `overwrite`; it is then replaced only at commit.
#include <filesystem>

namespace fp4gptq::io {

// Refuses an output path that exists as a file, or as a non-empty directory unless `overwrite`, or whose
// parent does not exist: the checks StagedDir makes, for callers that want to fail before long work.
void check_output_dir(const std::filesystem::path& final_dir, bool overwrite);

class StagedDir {
 public:
  StagedDir(std::filesystem::path final_dir, bool overwrite);
  // A staging directory inside `work_dir` whose final name is chosen at commit_to().
  static StagedDir scratch(const std::filesystem::path& work_dir);
  ~StagedDir();
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;
  StagedDir(StagedDir&& other) noexcept;  // the moved-from object no longer owns (or removes) the staging

  const std::filesystem::path& path() const { return staging_; }  // where files are written now
  const std::filesystem::path& final_path() const { return final_; }
  void commit();
  void commit_to(const std::filesystem::path& final_dir, bool overwrite);

 private:
  StagedDir() = default;
  std::filesystem::path final_, staging_;
  bool overwrite_ = false, committed_ = false;
};

}  // namespace fp4gptq::io
