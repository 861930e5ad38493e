#include "io/staged_dir.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "fp4gptq/error.hpp"

namespace fp4gptq::io {

namespace fs = std::filesystem;

namespace {

bool holds_files(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir, ec) && (!fs::is_directory(dir, ec) || !fs::is_empty(dir, ec));
}

// Whether `inner` lies strictly inside `outer` (both resolved).
bool is_within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i)
    if (i == inner.end() || *i != *o) return false;
  return i != inner.end();
}

std::string errno_text(int e) { return std::strerror(e); }

// An exclusive lock on directory `dir` (its fd, kept open while owned), or -1 when another process holds it
// (or, with `gone_ok`, when it vanished meanwhile: another run committed or removed it).
int try_lock_dir(const fs::path& dir, bool gone_ok = false) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && gone_ok && errno == ENOENT) return -1;
  if (fd < 0) throw Error(dir.string() + ": cannot open the staging directory: " + errno_text(errno), ErrorKind::Internal);
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
  const int e = errno;
  ::close(fd);
  if (e == EWOULDBLOCK) return -1;
  throw Error(dir.string() + ": cannot lock the staging directory: " + errno_text(e), ErrorKind::Internal);
}

void write_marker(const fs::path& dir) {
  std::ofstream m(dir / kMarkerFile, std::ios::trunc);
  m << "{\"written_by\": \"fp4gptq\"}\n";
  if (!m) throw Error((dir / kMarkerFile).string() + ": cannot write the output marker", ErrorKind::Internal);
}

// A staging directory a dead process left: ours to remove only when it holds the marker (or nothing).
void remove_stale(const fs::path& dir) {
  if (!is_fp4gptq_output(dir) && holds_files(dir))
    throw Error(dir.string() + ": exists and is not an fp4gptq staging directory (no " + kMarkerFile +
                "); remove it yourself or choose another output");
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot remove the stale staging directory: " + ec.message(), ErrorKind::Internal);
}

}  // namespace

fs::path resolve_path(const fs::path& p) {
  if (p.empty()) throw Error("output directory: an empty path was given");
  fs::path r = fs::weakly_canonical(fs::absolute(p)).lexically_normal();
  if (!r.has_filename() && r.has_parent_path() && r != r.root_path()) r = r.parent_path();  // "out/" -> "out"
  return r;
}

bool is_fp4gptq_output(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / kMarkerFile, ec);
}

fs::path staging_path_for(const fs::path& final_dir) {
  const fs::path f = resolve_path(final_dir);
  return f.string() + ".fp4gptq-staging";
}

void check_output_dir(const fs::path& final_dir, bool overwrite, const std::vector<fs::path>& inputs) {
  const fs::path f = resolve_path(final_dir);
  std::error_code ec;
  for (const auto& input : inputs) {
    if (input.empty()) continue;
    const fs::path in = resolve_path(input);
    if (f == in) throw Error(f.string() + ": the output is the input " + in.string() + " (choose another output)");
    if (is_within(in, f))
      throw Error(f.string() + ": the output contains the input " + in.string() + " (choose another output)");
    if (fs::is_directory(in, ec) && is_within(f, in))
      throw Error(f.string() + ": the output lies inside the input directory " + in.string() +
                  " (choose another output)");
  }
  if (fs::exists(f, ec) && !fs::is_directory(f, ec)) throw Error(f.string() + ": exists and is not a directory");
  if (holds_files(f)) {
    if (!overwrite)
      throw Error(f.string() +
                  ": output directory already exists and is not empty (not replaced unless overwriting is asked for)");
    if (!is_fp4gptq_output(f))
      throw Error(f.string() + ": exists and was not written by fp4gptq (no " + kMarkerFile +
                  " marker), so it is not replaced even when overwriting; remove it yourself or choose another output");
  }
  const fs::path parent = f.parent_path();
  if (!fs::is_directory(parent, ec))
    throw Error(f.string() + ": parent directory " + parent.string() + " does not exist");
}

StagedDir::StagedDir(fs::path final_dir, bool overwrite, bool resume, const std::vector<fs::path>& inputs)
    : final_(resolve_path(final_dir)), overwrite_(overwrite) {
  check_output_dir(final_, overwrite, inputs);
  open(staging_path_for(final_), resume);
}

StagedDir StagedDir::at(const fs::path& staging, bool resume) {
  StagedDir d;
  d.open(resolve_path(staging), resume);
  return d;
}

StagedDir StagedDir::scratch(const fs::path& work_dir) {
  static std::atomic<int> counter = 0;
  std::error_code ec;
  if (!fs::is_directory(work_dir, ec)) throw Error(work_dir.string() + ": work directory does not exist");
  for (const auto& e : fs::directory_iterator(work_dir, ec)) {
    // Only marked ones: the marker is written after the lock is taken, so an unmarked one may be another
    // thread's staging directory being created right now.
    if (!e.path().filename().string().starts_with("fp4gptq-staging-") || e.is_symlink(ec) ||
        !is_fp4gptq_output(e.path()))
      continue;
    if (const int fd = try_lock_dir(e.path(), /*gone_ok=*/true); fd >= 0) {
      remove_stale(e.path());
      ::close(fd);
    }
  }
  StagedDir d;
  d.open(resolve_path(work_dir) /
             ("fp4gptq-staging-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)),
         false);
  return d;
}

// staging_ is set only once the lock is ours: the destructor removes staging_, and a directory another process
// holds must survive our failing to take it.
void StagedDir::open(const fs::path& staging, bool resume) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::error_code ec;
    const auto st = fs::symlink_status(staging, ec);
    if (fs::exists(st)) {
      if (!fs::is_directory(st))
        throw Error(staging.string() + ": exists and is not a staging directory; remove it yourself");
      const int fd = try_lock_dir(staging);
      if (fd < 0)
        throw Error(staging.string() + ": another fp4gptq process is writing this output (its staging directory "
                                       "is locked)");
      if (resume && is_fp4gptq_output(staging)) {
        staging_ = staging;
        lock_fd_ = fd;
        resumed_ = keep_ = true;  // kept on failure until the resume is accepted (keep_on_failure(false))
        return;
      }
      try {
        remove_stale(staging);  // left by a killed run
      } catch (...) {
        ::close(fd);
        throw;
      }
      ::close(fd);
      continue;
    }
    if (!fs::create_directory(staging, ec)) {
      if (ec) throw Error(staging.string() + ": cannot create the staging directory: " + ec.message(), ErrorKind::Internal);
      continue;  // another process created it meanwhile
    }
    const int fd = try_lock_dir(staging);
    if (fd < 0) continue;
    staging_ = staging;
    lock_fd_ = fd;
    write_marker(staging_);
    return;
  }
  throw Error(staging.string() + ": cannot take the staging directory (other processes keep replacing it)");
}

StagedDir::StagedDir(StagedDir&& o) noexcept
    : final_(std::move(o.final_)),
      staging_(std::move(o.staging_)),
      lock_fd_(o.lock_fd_),
      overwrite_(o.overwrite_),
      committed_(o.committed_),
      resumed_(o.resumed_),
      keep_(o.keep_) {
  o.committed_ = true;
  o.lock_fd_ = -1;
}

StagedDir::~StagedDir() {
  if (!committed_ && !keep_ && !staging_.empty()) {
    std::error_code ec;
    fs::remove_all(staging_, ec);
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void StagedDir::commit() { commit_to(final_, overwrite_); }

void StagedDir::move_beside(const fs::path& final) {
  StagedDir beside;
  beside.open(staging_path_for(final), false);  // locked and marked; a stale one is removed first
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(staging_)) {
    if (e.path().filename() == kMarkerFile) continue;
    fs::copy(e.path(), beside.staging_ / e.path().filename(), fs::copy_options::recursive, ec);
    if (ec)  // `beside` removes its partial copy; this staging directory stays whole
      throw Error(final.string() + ": cannot copy " + e.path().string() + " beside the output: " + ec.message(),
                  ErrorKind::Internal);
  }
  fs::remove_all(staging_, ec);
  if (lock_fd_ >= 0) ::close(lock_fd_);
  staging_ = beside.staging_;
  lock_fd_ = beside.lock_fd_;
  beside.lock_fd_ = -1;
  beside.committed_ = true;  // now ours
}

void StagedDir::commit_to(const fs::path& final_dir, bool overwrite, const std::vector<fs::path>& inputs) {
  if (committed_) return;
  final_ = resolve_path(final_dir);
  overwrite_ = overwrite;
  check_output_dir(final_, overwrite_, inputs);
  struct stat staged {}, parent {};
  if (::stat(staging_.c_str(), &staged) == 0 && ::stat(final_.parent_path().c_str(), &parent) == 0 &&
      staged.st_dev != parent.st_dev)
    move_beside(final_);
  std::error_code ec;
  if (fs::exists(final_, ec)) {
    // Swap the two directories in one step: the output name never goes missing, and the staging name then
    // holds the replaced directory, removed next (or, after a kill, as stale staging by the next run).
    if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, final_.c_str(), RENAME_EXCHANGE) == 0) {
      committed_ = true;
      fs::remove_all(staging_, ec);
      return;
    }
    if (errno != EINVAL && errno != ENOSYS)
      throw Error(final_.string() + ": cannot move " + staging_.string() + " into place: " + errno_text(errno), ErrorKind::Internal);
    // A filesystem without RENAME_EXCHANGE: move the old directory aside first.
    const fs::path old = final_.string() + ".fp4gptq-old";
    fs::remove_all(old, ec);
    fs::rename(final_, old, ec);
    if (ec) throw Error(final_.string() + ": cannot move the existing directory aside: " + ec.message(), ErrorKind::Internal);
    fs::rename(staging_, final_, ec);
    if (ec) {
      const std::string why = ec.message();  // the error of the rename, not of the rollback
      std::error_code back;
      fs::rename(old, final_, back);
      throw Error(final_.string() + ": cannot rename " + staging_.string() + " into place: " + why, ErrorKind::Internal);
    }
    committed_ = true;
    fs::remove_all(old, ec);
    return;
  }
  fs::rename(staging_, final_, ec);
  if (ec)
    throw Error(final_.string() + ": cannot rename " + staging_.string() + " into place: " + ec.message(),
                ErrorKind::Internal);
  committed_ = true;
}

}  // namespace fp4gptq::io
