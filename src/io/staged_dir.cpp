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

StagedDir::StagedDir(fs::path final_dir, bool overwrite) : final_(std::move(final_dir)), overwrite_(overwrite) {
  if (final_.empty()) throw Error("output directory: an empty path was given");
  if (!final_.has_filename()) final_ = final_.parent_path();  // "out/" -> "out"
  std::error_code ec;
  if (fs::exists(final_, ec) && !fs::is_directory(final_, ec))
    throw Error(final_.string() + ": exists and is not a directory");
  if (holds_files(final_) && !overwrite)
    throw Error(final_.string() + ": output directory already exists and is not empty (pass --overwrite to replace it)");
  const fs::path parent = final_.has_parent_path() ? final_.parent_path() : fs::path(".");
  if (!fs::is_directory(parent, ec))
    throw Error(final_.string() + ": parent directory " + parent.string() + " does not exist");
  staging_ = final_.string() + ".partial-" + std::to_string(::getpid());
  fs::remove_all(staging_, ec);
  if (!fs::create_directory(staging_, ec) || ec)
    throw Error(final_.string() + ": cannot create the output directory " + staging_.string() + ": " +
                (ec ? ec.message() : std::string("already exists")));
}

StagedDir::~StagedDir() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(staging_, ec);
  }
}

void StagedDir::commit() {
  if (committed_) return;
  std::error_code ec;
  fs::path old;
  if (fs::exists(final_, ec)) {
    if (holds_files(final_) && !overwrite_)
      throw Error(final_.string() + ": output directory appeared while writing; not replacing it without --overwrite");
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
