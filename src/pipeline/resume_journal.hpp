#pragma once
// Resuming a killed quantize run (docs/DESIGN.md §9). After each decoder layer is written, its output files
// are forced to disk, the activations entering the next layer are checkpointed (one layer's worth; on several
// ranks, each rank its own shards'), and then a journal in the staging directory records: the run's fingerprint (every
// option and input its output depends on), the layers done with a CRC-32 of each one's tensors, the report so far. A
// resumed run checks all of it, takes the finished layers as they are and continues with the next one, so its output is
// byte-identical to an uninterrupted run's.
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "calib/activation_store.hpp"
#include "calib/calibration.hpp"
#include "dist/communicator.hpp"
#include "io/checkpoint_writer.hpp"
#include "io/model_dir.hpp"
#include "linalg/context.hpp"
#include "model/layer_plan.hpp"
#include "pipeline/quantize.hpp"
#include "pipeline/report.hpp"
#include "pipeline/timing.hpp"

namespace fp4gptq::pipeline {

// The options and inputs the output depends on, one named field each, so a refused resume names what
// changed. Inputs are identified by content where cheap (config.json, safetensors headers, calibration
// tokens) and by size and modification time for the weights.
// `output_layout` is io::layout_checksum of the checkpoint plan; `ranks` the run's MPI ranks.
nlohmann::ordered_json run_fingerprint(const io::ModelDir& src, const model::ModelPlan& plan,
                                       const calib::CalibrationSet& calib, const QuantizeOptions& options,
                                       const linalg::Context& ctx, uint32_t output_layout, int ranks = 1);

// Refuses to resume in `staging` when its journal was written with another fingerprint, naming every field
// that changed; nothing when there is no journal. Called before the output files are opened, so a refused
// resume touches nothing.
void check_resume_fingerprint(const std::filesystem::path& staging, const nlohmann::ordered_json& fingerprint);

class ResumeJournal {
 public:
  // The root's journal, in out's staging directory. Every rank checkpoints its own activations into
  // `activation_dir` (its offload directory when it has one, else the root's staging directory). Under several
  // ranks (docs/DESIGN.md §13) every rank constructs its ResumeJournal (the others with the constructor below)
  // and calls every member in the same order: they are collectives.
  ResumeJournal(io::CheckpointWriter& out, const model::ModelPlan& plan, nlohmann::ordered_json fingerprint,
                const std::filesystem::path& activation_dir, const dist::Communicator& comm = dist::serial());
  // A non-root rank's part; an empty `activation_dir` means the root's staging directory.
  ResumeJournal(const std::filesystem::path& activation_dir, const dist::Communicator& comm)
      : ResumeJournal(activation_dir, comm, nullptr) {}
  ~ResumeJournal();  // removes an activation checkpoint outside the staging directory unless killed
  ResumeJournal(const ResumeJournal&) = delete;
  ResumeJournal& operator=(const ResumeJournal&) = delete;

  // Collective: whether every rank can checkpoint into its activation directory (the root's staging
  // directory is only seen by the others on a shared filesystem); when not, the root warns, naming the
  // ranks, and the run goes without resume points.
  bool usable() const;

  // The number of layers an earlier run finished, when the writer reopened its files (0 otherwise): the
  // fingerprint must match (else an error naming every field that changed), every finished layer's CRC
  // must match what is on disk; then its tensors count as written and the report, the time and FLOPs spent
  // so far (the report accounts for the whole job) and the next layer's input activations `x` (each rank's
  // own) are restored.
  int64_t restore(Report& report, TimeSplit& split, calib::ActivationStore& x);
  // Layers up to `layer` are completely written: sync, checkpoint `x` (every rank its own), then the journal
  // (in that order); the previous checkpoints go after that.
  void layer_done(int64_t layer, const Report& report, const TimeSplit& split, const calib::ActivationStore& x);
  // The run is complete: the journal and the activation checkpoints go (before the output is committed).
  void finish();

 private:
  ResumeJournal(const std::filesystem::path& activation_dir, const dist::Communicator& comm, io::CheckpointWriter* out);
  // Rank r's activation checkpoint after `layers_done` layers: <stem>[.rank<r>].<layers_done>.
  std::string activation_name(int rank, int64_t layers_done) const;
  uint32_t save_activations(const calib::ActivationStore& x, const std::filesystem::path& file) const;  // its CRC
  void load_activations(const nlohmann::ordered_json& entry, calib::ActivationStore& x) const;
  std::string journal_to_resume();  // the root's: the journal's text after its checks, or "" (nothing to resume)

  io::CheckpointWriter* out_;  // the root's; none on the other ranks
  const dist::Communicator& comm_;
  nlohmann::ordered_json fingerprint_;
  std::filesystem::path staging_, journal_, activation_dir_;
  std::string activation_stem_;
  std::filesystem::path last_file_;                            // this rank's newest activation checkpoint
  std::map<int64_t, std::vector<std::string>> layer_tensors_;  // output tensors of each decoder layer
  std::vector<uint32_t> layer_crc_;
};

}  // namespace fp4gptq::pipeline
