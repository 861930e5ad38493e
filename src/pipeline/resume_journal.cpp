#include "pipeline/resume_journal.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fp4gptq/error.hpp"
#include "io/crc32.hpp"
#include "io/json_file.hpp"
#include "pipeline/log.hpp"

namespace fp4gptq::pipeline {

namespace fs = std::filesystem;

namespace {

constexpr const char* kJournal = ".fp4gptq-resume.json";
constexpr int kJournalVersion = 1;

std::string hex(uint32_t v) { return fmt::format("{:08x}", v); }

[[noreturn]] void io_error(const fs::path& p, const char* what) {
  throw Error(p.string() + ": " + what + ": " + std::strerror(errno), ErrorKind::Internal);
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) io_error(dir, "cannot open to flush");
  ::fsync(fd);
  ::close(fd);
}

// A file written as a whole or not at all, also across a power loss: a temporary, flushed, renamed over.
class DurableFile {
 public:
  explicit DurableFile(fs::path path) : path_(std::move(path)), tmp_(path_.string() + ".tmp") {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) io_error(tmp_, "cannot create");
  }
  ~DurableFile() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(tmp_.c_str());
    }
  }
  void write(const void* data, size_t n) {
    for (const char* p = static_cast<const char*>(data); n > 0;) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) io_error(tmp_, "write failed");
      p += w;
      n -= static_cast<size_t>(w);
    }
  }
  void commit() {
    if (::fsync(fd_) != 0) io_error(tmp_, "cannot flush to disk");
    ::close(fd_);
    fd_ = -1;
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) io_error(path_, "cannot rename into place");
    fsync_dir(path_.parent_path());
  }

 private:
  fs::path path_, tmp_;
  int fd_ = -1;
};

// Fault injection for the resume and signal tests: FP4GPTQ_TEST_SIGNAL_AFTER_LAYER="<signal>:<k>" raises that
// signal right after the k-th finished layer is journaled (9, SIGKILL: as a power loss; 15: as a user's stop).
void inject_fault(int64_t layers_done) {
  const char* spec = std::getenv("FP4GPTQ_TEST_SIGNAL_AFTER_LAYER");
  int sig = 0;
  long long k = 0;
  if (spec && std::sscanf(spec, "%d:%lld", &sig, &k) == 2 && k == layers_done) std::raise(sig);
}

nlohmann::ordered_json read_journal(const fs::path& path) {
  return io::read_json(path, io::JsonLimits{1ull << 32, 64, 100'000'000, 100'000'000});
}

void check_fingerprint(const nlohmann::ordered_json& j, const nlohmann::ordered_json& now, const fs::path& staging) {
  const std::string where = staging.string() + ": cannot resume: ";
  if (!j.is_object() || j.value("version", 0) != kJournalVersion || !j.contains("fingerprint"))
    throw Error(where + kJournal + " is not a journal of this version (run without resuming to start over)");
  const auto& old = j["fingerprint"];
  std::string changed;
  auto add = [&](const std::string& c) { changed += (changed.empty() ? "" : "; ") + c; };
  // Options added after a journal was written: absent there means their default.
  static const nlohmann::ordered_json later = {
      {"block_scale_search", "none"}, {"scale2_max", 448.0}, {"shard_tokens", 65536}, {"ranks", 1}};
  for (const auto& [k, v] : now.items()) {
    if (!old.contains(k) && later.contains(k) && later[k] == v) continue;
    if (!old.contains(k) || old[k] != v)
      add(fmt::format("{} was {}, now {}", k, old.contains(k) ? old[k].dump() : "unset", v.dump()));
  }
  for (const auto& [k, v] : old.items())
    if (!now.contains(k)) add(k + " is no longer set");
  if (!changed.empty())
    throw Error(where + "the run there was started with other options or inputs: " + changed +
                " (run without resuming to start over)");
}

}  // namespace

void check_resume_fingerprint(const fs::path& staging, const nlohmann::ordered_json& fingerprint) {
  std::error_code ec;
  if (fs::exists(staging / kJournal, ec)) check_fingerprint(read_journal(staging / kJournal), fingerprint, staging);
}

nlohmann::ordered_json run_fingerprint(const io::ModelDir& src, const model::ModelPlan& plan,
                                       const calib::CalibrationSet& calib, const QuantizeOptions& o,
                                       const linalg::Context& ctx, uint32_t output_layout, int ranks) {
  nlohmann::ordered_json f;
  const std::string config = src.config().dump();
  f["config.json"] = "crc " + hex(io::crc32(config.data(), config.size()));
  for (const auto& file : src.files()) {
    const auto h = file->header_bytes();
    std::error_code ec;
    const auto mtime = fs::last_write_time(file->path(), ec).time_since_epoch().count();
    f["weights " + file->path().filename().string()] = fmt::format(
        "{} bytes, header crc {}, modified {}", file->file_size(), hex(io::crc32(h.data(), h.size())), mtime);
  }
  uint32_t c = 0;
  for (const auto& s : calib.samples) {
    const auto n = static_cast<uint64_t>(s.size());
    c = io::crc32(s.data(), s.size() * sizeof(int32_t), io::crc32(&n, sizeof n, c));
  }
  f["calibration"] = fmt::format("{} samples, {} tokens, crc {}", calib.samples.size(), calib.tokens(), hex(c));
  const auto& g = o.gptq;
  f["damp_percent"] = g.damp_percent;
  f["damp_step"] = g.damp_step;
  f["damp_max"] = g.damp_max;
  f["block_size"] = g.block_size;
  f["block_scales"] = g.block_scales == gptq::BlockScales::Static ? "static" : "dynamic";
  f["desc_act"] = g.desc_act;
  f["block_scale_search"] = nvfp4::search_name(o.scale_rule.search);
  f["scale2_max"] = o.scale_rule.scale2_max;
  f["hessian_dtype"] = g.hessian_dtype == gptq::HessianDType::F64 ? "float64" : "float32";
  f["act_dtype"] = numeric::dtype_name(o.act_dtype);
  f["compute"] = o.compute == model::Compute::F32 ? "f32" : "bf16";
  f["dtype"] = numeric::dtype_name(o.dtype);
  f["format"] = o.packed ? packing_name(o.packed->packing) : "pseudo";
  if (o.packed) {
    f["activations"] = o.packed->w4a4 ? "nvfp4" : "none";
    f["unquantized_dtype"] =
        o.packed->rest_dtype ? std::string(numeric::dtype_name(*o.packed->rest_dtype)) : "as the source";
  }
  f["true_sequential"] = o.true_sequential;
  f["fuse_scales"] = o.fuse_scales;
  f["moe_min_tokens"] = o.moe_min_tokens;
  f["moe_calibrate_all"] = o.moe_calibrate_all;
  f["expert_rows"] = o.expert_rows;
  f["expert_tile"] = o.expert_tile;
  f["chunk_tokens"] = o.chunk_tokens;
  f["shard_tokens"] = o.shard_tokens;
  f["allow_nonfinite"] = o.allow_nonfinite;
  f["threads"] = ctx.threads();
  f["ranks"] = ranks;  // which shards' activations each rank checkpoints
  std::string names;
  for (const auto* m : plan.quantized()) names += m->module + "\n";
  f["quantized modules"] =
      fmt::format("{}, crc {}", plan.quantized().size(), hex(io::crc32(names.data(), names.size())));
  f["output layout"] = "crc " + hex(output_layout);  // dtype, shard size, tensors of both files
  return f;
}

namespace {

std::vector<double> split_values(const TimeSplit& s) {
  return {s.forward_s, s.hessian_s, s.solve_s, s.io_s, s.forward_flops, s.hessian_flops, s.solve_flops};
}

TimeSplit split_of(const nlohmann::ordered_json& values, const std::string& where) {
  const auto t = values.get<std::vector<double>>();
  if (t.size() != 7) throw Error(where + "the journal is inconsistent (start over)");
  return {t[0], t[1], t[2], t[3], t[4], t[5], t[6]};
}

}  // namespace

ResumeJournal::ResumeJournal(io::CheckpointWriter& out, const model::ModelPlan& plan,
                             nlohmann::ordered_json fingerprint, const fs::path& activation_dir,
                             const dist::Communicator& comm)
    : ResumeJournal(activation_dir, comm, &out) {
  fingerprint_ = std::move(fingerprint);
  const auto layers = static_cast<int64_t>(plan.layers.size());
  for (const auto& name : out.tensor_names())
    if (const int64_t l = model::layer_of(name); l >= 0 && l < layers) layer_tensors_[l].push_back(name);
}

ResumeJournal::ResumeJournal(const fs::path& activation_dir, const dist::Communicator& comm, io::CheckpointWriter* out)
    : out_(out), comm_(comm) {
  std::string staging = out ? out->staging_path().string() : std::string();
  comm.broadcast(staging, 0);  // the other ranks learn where the root stages
  staging_ = staging;
  journal_ = staging_ / kJournal;
  const bool in_staging = activation_dir.empty() || activation_dir == staging_;
  activation_dir_ = in_staging ? staging_ : activation_dir;
  activation_stem_ = in_staging
                         ? ".fp4gptq-activations"
                         : fmt::format("fp4gptq-resume-{}.activations", hex(io::crc32(staging.data(), staging.size())));
}

ResumeJournal::~ResumeJournal() {
  if (!last_file_.empty() && activation_dir_ != staging_) {  // the staging directory goes with its owner
    std::error_code ec;
    fs::remove(last_file_, ec);
  }
}

bool ResumeJournal::usable() const {
  std::error_code ec;
  const double mine = fs::is_directory(activation_dir_, ec) ? 1.0 : 0.0;
  std::vector<double> all(static_cast<size_t>(comm_.size()));
  comm_.gather(&mine, 1, all.data());
  int8_t bad = 0;
  std::string ranks;
  if (comm_.is_root())
    for (int r = 0; r < comm_.size(); ++r)
      if (all[static_cast<size_t>(r)] == 0.0) bad = 1, ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  comm_.broadcast(&bad, 1, 0);
  if (bad && comm_.is_root())
    log_warning(
        fmt::format("no resume points: rank(s) {} cannot see their activation checkpoint directory (the "
                    "staging directory {} must be on a filesystem every rank shares, or each rank needs "
                    "--offload-dir)",
                    ranks, staging_.string()));
  return !bad;
}

std::string ResumeJournal::activation_name(int rank, int64_t layers_done) const {
  return comm_.size() > 1 ? fmt::format("{}.rank{}.{}", activation_stem_, rank, layers_done)
                          : fmt::format("{}.{}", activation_stem_, layers_done);
}

std::string ResumeJournal::journal_to_resume() {
  std::error_code ec;
  // A resumed staging directory is kept on failure until here, so a refused resume leaves it as it was.
  if (!out_->resumed() || !fs::exists(journal_, ec)) return "";
  auto j = read_journal(journal_);
  check_fingerprint(j, fingerprint_, staging_);
  const std::string where = staging_.string() + ": cannot resume: ";
  const auto done = j.at("layers_done").get<int64_t>();
  const auto crcs = j.at("layer_crc").get<std::vector<uint32_t>>();
  if (done <= 0) return "";
  if (static_cast<int64_t>(crcs.size()) != done) throw Error(where + "the journal is inconsistent (start over)");
  if (comm_.size() > 1 && (!j.contains("ranks") || j["ranks"].size() != static_cast<size_t>(comm_.size())))
    throw Error(where + "the journal is inconsistent (start over)");
  for (int64_t l = 0; l < done; ++l) {
    const auto& names = layer_tensors_[l];
    if (out_->checksum(names) != crcs[l])
      throw Error(where + "the output written for layer " + std::to_string(l) +
                  " does not match its checksum in the journal (damaged files; run without resuming to start over)");
    out_->mark_written(names);
  }
  layer_crc_ = crcs;
  return j.dump();
}

int64_t ResumeJournal::restore(Report& report, TimeSplit& split, calib::ActivationStore& x) {
  std::string text = out_ ? journal_to_resume() : std::string();
  comm_.broadcast(text, 0);
  if (text.empty()) {
    if (out_) out_->keep_staging_on_failure(false);
    return 0;
  }
  const auto j = nlohmann::ordered_json::parse(text);
  const std::string where = staging_.string() + ": cannot resume: ";
  const auto& mine = comm_.size() > 1 ? j.at("ranks").at(static_cast<size_t>(comm_.rank())) : j.at("activations");
  load_activations(mine, x);
  report.restore(j.at("report"));
  split = split_of(comm_.size() > 1 ? mine.at("time_split") : j.at("time_split"), where);
  last_file_ = activation_dir_ / mine.value("file", activation_stem_);
  if (out_) out_->keep_staging_on_failure(false);
  return j.at("layers_done").get<int64_t>();
}

void ResumeJournal::layer_done(int64_t layer, const Report& report, const TimeSplit& split,
                               const calib::ActivationStore& x) {
  if (out_) {
    if (layer < static_cast<int64_t>(layer_crc_.size()))
      throw Error("resume journal: layer " + std::to_string(layer) + " finished out of order");
    out_->sync();  // the layers' tensors are on disk before the journal says so
    for (auto l = static_cast<int64_t>(layer_crc_.size()); l <= layer; ++l)  // every layer since the last entry
      layer_crc_.push_back(out_->checksum(layer_tensors_[l]));
  }
  const auto file = activation_dir_ / activation_name(comm_.rank(), layer + 1);
  const uint32_t crc = save_activations(x, file);
  // Every rank's checkpoint is on disk before the journal names them: rows, CRC and time split to the root.
  auto mine = split_values(split);
  mine.insert(mine.begin(), {static_cast<double>(x.rows()), static_cast<double>(crc)});
  std::vector<double> all(mine.size() * static_cast<size_t>(comm_.size()));
  comm_.gather(mine.data(), mine.size(), all.data());
  if (out_) {
    nlohmann::ordered_json j;
    j["version"] = kJournalVersion;
    j["fingerprint"] = fingerprint_;
    j["layers_done"] = layer + 1;
    j["layer_crc"] = layer_crc_;
    auto entry = [&](int r) {  // rank r's activation checkpoint
      const double* v = all.data() + r * mine.size();
      return nlohmann::ordered_json{{"rows", static_cast<int64_t>(v[0])},
                                    {"width", x.width()},
                                    {"dtype", numeric::dtype_name(x.dtype())},
                                    {"crc", hex(static_cast<uint32_t>(v[1]))},
                                    {"file", activation_name(r, layer + 1)}};
    };
    j["activations"] = entry(0);
    j["report"] = report.state();
    j["time_split"] = split_values(split);
    if (comm_.size() > 1) {
      auto& ranks = j["ranks"] = nlohmann::ordered_json::array();
      for (int r = 0; r < comm_.size(); ++r) {
        auto e = entry(r);
        const double* v = all.data() + r * mine.size();
        e["time_split"] = std::vector<double>(v + 2, v + mine.size());
        ranks.push_back(std::move(e));
      }
    }
    const std::string text = j.dump();
    DurableFile f(journal_);
    f.write(text.data(), text.size());
    f.commit();
  }
  uint8_t committed = 1;  // the journal names the new checkpoints: the old ones can go
  comm_.broadcast(&committed, 1, 0);
  std::error_code ec;
  if (!last_file_.empty() && last_file_ != file) fs::remove(last_file_, ec);
  last_file_ = file;
  inject_fault(layer + 1);
}

void ResumeJournal::finish() {
  std::error_code ec;
  if (out_) fs::remove(journal_, ec);
  if (!last_file_.empty()) fs::remove(last_file_, ec);
  last_file_.clear();
}

uint32_t ResumeJournal::save_activations(const calib::ActivationStore& x, const fs::path& file) const {
  constexpr int64_t kRows = 256;
  const size_t row_bytes = static_cast<size_t>(x.width()) * numeric::dtype_size(x.dtype());
  std::vector<std::byte> buf(static_cast<size_t>(kRows) * row_bytes);
  DurableFile f(file);
  uint32_t crc = 0;
  for (int64_t r = 0; r < x.rows(); r += kRows) {
    const int64_t n = std::min(kRows, x.rows() - r);
    x.load_raw(r, n, buf.data());
    crc = io::crc32(buf.data(), static_cast<size_t>(n) * row_bytes, crc);
    f.write(buf.data(), static_cast<size_t>(n) * row_bytes);
  }
  f.commit();
  return crc;
}

void ResumeJournal::load_activations(const nlohmann::ordered_json& entry, calib::ActivationStore& x) const {
  // A journal from before checkpoints were named by layer has no file: the one file of the stem's name.
  const fs::path file = activation_dir_ / entry.value("file", activation_stem_);
  const std::string where = file.string() + ": cannot resume: ";
  if (entry.at("rows").get<int64_t>() != x.rows() || entry.at("width").get<int64_t>() != x.width() ||
      entry.at("dtype").get<std::string>() != numeric::dtype_name(x.dtype()))
    throw Error(where + "the checkpointed activations have another shape or dtype");
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(where + "the activation checkpoint is missing (" + std::strerror(errno) + ")");
  constexpr int64_t kRows = 256;
  const size_t row_bytes = static_cast<size_t>(x.width()) * numeric::dtype_size(x.dtype());
  std::vector<std::byte> buf(static_cast<size_t>(kRows) * row_bytes);
  uint32_t crc = 0;
  uint64_t at = 0;
  for (int64_t r = 0; r < x.rows(); r += kRows) {
    const int64_t n = std::min(kRows, x.rows() - r);
    const size_t want = static_cast<size_t>(n) * row_bytes;
    if (::pread(fd, buf.data(), want, static_cast<off_t>(at)) != static_cast<ssize_t>(want)) {
      ::close(fd);
      throw Error(where + "the activation checkpoint is truncated");
    }
    crc = io::crc32(buf.data(), want, crc);
    x.store_raw(r, n, buf.data());
    at += want;
  }
  ::close(fd);
  if (hex(crc) != entry.at("crc").get<std::string>())
    throw Error(where + "the activation checkpoint does not match its checksum (damaged; start over)");
}

}  // namespace fp4gptq::pipeline
