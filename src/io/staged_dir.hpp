#pragma once
// Output directories that never lose a user's data (docs/DESIGN.md §9).
//
// An output directory is built under a staging name and moved into place by commit(), so a failed or killed
// run never leaves a half-written directory under the final name. The staging directory is locked (flock on
// the directory itself) while a process owns it; one left behind by a dead process is unlocked, and the next
// run to the same output removes it, or continues in it when resuming. Every directory fp4gptq writes
// carries the marker file kMarkerFile; an existing output is only ever replaced when it carries the marker and
// overwriting was asked for, and never when it is, contains or lies inside an input.
#include <filesystem>
#include <vector>

namespace fp4gptq::io {

inline constexpr const char* kMarkerFile = ".fp4gptq-output";

// The path as every check and rename uses it: absolute, "." / ".." and symlinks resolved, no trailing slash.
std::filesystem::path resolve_path(const std::filesystem::path& p);

// Whether `dir` is a directory fp4gptq wrote (it holds the marker file).
bool is_fp4gptq_output(const std::filesystem::path& dir);

// Refuses an output that equals or contains one of `inputs` (model directory, calibration file) or lies
// inside an input directory — whatever `overwrite` says; an output that exists as a file; an existing
// non-empty directory unless `overwrite` and it carries the marker; a missing parent directory.
void check_output_dir(const std::filesystem::path& final_dir, bool overwrite,
                      const std::vector<std::filesystem::path>& inputs = {});

// The staging directory of an output: "<out>.fp4gptq-staging" beside it.
std::filesystem::path staging_path_for(const std::filesystem::path& final_dir);

class StagedDir {
 public:
  // Checks the output (check_output_dir) and stages beside it (staging_path_for). With `resume` an unlocked
  // staging directory left by a killed run is kept (resumed() tells); otherwise it is removed first.
  StagedDir(std::filesystem::path final_dir, bool overwrite, bool resume = false,
            const std::vector<std::filesystem::path>& inputs = {});
  // Stages at `staging` (the final name is chosen at commit_to()); `resume` as above.
  static StagedDir at(const std::filesystem::path& staging, bool resume);
  // A fresh staging directory "fp4gptq-staging-<pid>-<n>" inside `work_dir`; stale unlocked ones there are
  // removed first.
  static StagedDir scratch(const std::filesystem::path& work_dir);
  ~StagedDir();  // removes the staging directory unless committed
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;
  StagedDir(StagedDir&& other) noexcept;  // the moved-from object no longer owns (or removes) the staging

  const std::filesystem::path& path() const { return staging_; }  // where files are written now
  const std::filesystem::path& final_path() const { return final_; }
  bool resumed() const { return resumed_; }  // the staging directory was left by an earlier run and kept
  // While set, a failure (destruction uncommitted) leaves the staging directory as it is: a refused resume
  // must not destroy the run it refused to continue. Set for a resumed staging directory until cleared.
  void keep_on_failure(bool keep) { keep_ = keep; }
  void commit();
  void commit_to(const std::filesystem::path& final_dir, bool overwrite,
                 const std::vector<std::filesystem::path>& inputs = {});

 private:
  StagedDir() = default;
  void open(const std::filesystem::path& staging, bool resume);
  // Copies the staged files into a staging directory beside `final` (staged on another filesystem: a work
  // directory elsewhere) and continues from there, so that the commit is still one rename.
  void move_beside(const std::filesystem::path& final);
  std::filesystem::path final_, staging_;
  int lock_fd_ = -1;
  bool overwrite_ = false, committed_ = false, resumed_ = false, keep_ = false;
};

}  // namespace fp4gptq::io
