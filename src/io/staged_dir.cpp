#include "io/staged_dir.hpp"

#include <unistd.h>

#include "fp4gptq/error.hpp"

namespace fp4gptq::io {

namespace fs = std::filesystem;

namespace {

bool holds_files(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir, ec) && (!fs::is_directory(dir, ec) || !fs::is_empty(dir, ec));
}

}  // namespace

namespace {
fs::path normalized(fs::path p) {
  if (p.empty()) throw Error("output directory: an empty path was given");
  return p.has_filename() ? p : p.parent_path();  // "out/" -> "out"
}
}  // namespace

void check_output_dir(const fs::path& final_dir, bool overwrite) {
  const fs::path f = normalized(final_dir);
  std::error_code ec;
  if (fs::exists(f, ec) && !fs::is_directory(f, ec)) throw Error(f.string() + ": exists and is not a directory");
  if (holds_files(f) && !overwrite)
    throw Error(f.string() +
                ": output directory already exists and is not empty (not replaced unless overwriting is asked for)");
  const fs::path parent = f.has_parent_path() ? f.parent_path() : fs::path(".");
  if (!fs::is_directory(parent, ec))
    throw Error(f.string() + ": parent directory " + parent.string() + " does not exist");
}

StagedDir::StagedDir(fs::path final_dir, bool overwrite)
    : final_(normalized(std::move(final_dir))), overwrite_(overwrite) {
  check_output_dir(final_, overwrite);
  staging_ = final_.string() + ".partial-" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(staging_, ec);
  if (!fs::create_directory(staging_, ec) || ec)
    throw Error(final_.string() + ": cannot create the output directory " + staging_.string() + ": " +
                (ec ? ec.message() : std::string("already exists")));
}

StagedDir StagedDir::scratch(const fs::path& work_dir) {
  static int counter = 0;
  StagedDir d;
  std::error_code ec;
  if (!fs::is_directory(work_dir, ec)) throw Error(work_dir.string() + ": work directory does not exist");
  d.staging_ = work_dir / ("fp4gptq-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".partial");
  fs::remove_all(d.staging_, ec);
  if (!fs::create_directory(d.staging_, ec) || ec)
    throw Error(d.staging_.string() + ": cannot create the staging directory" + (ec ? ": " + ec.message() : ""));
  return d;
}

StagedDir::StagedDir(StagedDir&& o) noexcept
    : final_(std::move(o.final_)), staging_(std::move(o.staging_)), overwrite_(o.overwrite_), committed_(o.committed_) {
  o.committed_ = true;
}

StagedDir::~StagedDir() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(staging_, ec);
  }
}

void StagedDir::commit() { commit_to(final_, overwrite_); }

void StagedDir::commit_to(const fs::path& final_dir, bool overwrite) {
  if (committed_) return;
  final_ = normalized(final_dir);
  overwrite_ = overwrite;
  check_output_dir(final_, overwrite_);
  std::error_code ec;
  fs::path old;
  if (fs::exists(final_, ec)) {
    if (holds_files(final_) && !overwrite_)
      throw Error(final_.string() +
                  ": output directory appeared while writing; not replaced unless overwriting is asked for");
    old = final_.string() + ".old-" + std::to_string(::getpid());
    fs::rename(final_, old, ec);
    if (ec) throw Error(final_.string() + ": cannot move the existing directory aside: " + ec.message());
  }
  fs::rename(staging_, final_, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, final_, ec);
    throw Error(final_.string() + ": cannot rename " + staging_.string() + " into place: " + ec.message());
  }
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace fp4gptq::io
