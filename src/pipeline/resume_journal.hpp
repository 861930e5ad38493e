#pragma once
// Resuming a killed quantize run (docs/DESIGN.md §9). After each decoder layer is written, its output files
// are forced to disk, the activations entering the next layer are checkpointed (one layer's worth, replaced
// atomically), and then a journal in the staging directory records: the run's fingerprint (every option
// and input its output depends on), the layers done with a CRC-32 of each one's tensors, the report so far.
// A resumed run checks all of it, takes the finished layers as they are and continues with the next one,
// so its output is byte-identical to an uninterrupted run's.
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "calib/activation_store.hpp"
#include "calib/calibration.hpp"
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
// `output_layout` is io::layout_checksum of the checkpoint plan.
nlohmann::ordered_json run_fingerprint(const io::ModelDir& src, const model::ModelPlan& plan,
                                       const calib::CalibrationSet& calib, const QuantizeOptions& options,
                                       const linalg::Context& ctx, uint32_t output_layout);

// Refuses to resume in `staging` when its journal was written with another fingerprint, naming every field
// that changed; nothing when there is no journal. Called before the output files are opened, so a refused
// resume touches nothing.
void check_resume_fingerprint(const std::filesystem::path& staging, const nlohmann::ordered_json& fingerprint);

class ResumeJournal {
 public:
  // Journals into out's staging directory; the activation checkpoint goes to `activation_dir` (the offload
  // directory when there is one, else the staging directory).
  ResumeJournal(io::CheckpointWriter& out, const model::ModelPlan& plan, nlohmann::ordered_json fingerprint,
                const std::filesystem::path& activation_dir);
  ~ResumeJournal();  // removes an activation checkpoint outside the staging directory unless killed
  ResumeJournal(const ResumeJournal&) = delete;
  ResumeJournal& operator=(const ResumeJournal&) = delete;

  // The number of layers an earlier run finished, when the writer reopened its files (0 otherwise): the
  // fingerprint must match (else an error naming every field that changed), every finished layer's CRC
  // must match what is on disk; then its tensors count as written and the report, the time and FLOPs spent
  // so far (the report accounts for the whole job) and the next layer's input activations `x` are restored.
  int64_t restore(Report& report, TimeSplit& split, calib::ActivationStore& x);
  // Layers up to `layer` are completely written: sync, checkpoint `x`, then the journal (in that order).
  void layer_done(int64_t layer, const Report& report, const TimeSplit& split, const calib::ActivationStore& x);
  // The run is complete: the journal and the activation checkpoint go (before the output is committed).
  void finish();

 private:
  void save_activations(const calib::ActivationStore& x, nlohmann::ordered_json& entry) const;
  void load_activations(const nlohmann::ordered_json& entry, calib::ActivationStore& x) const;

  io::CheckpointWriter& out_;
  nlohmann::ordered_json fingerprint_;
  std::filesystem::path journal_, activations_;
  std::map<int64_t, std::vector<std::string>> layer_tensors_;  // output tensors of each decoder layer
  std::vector<uint32_t> layer_crc_;
};

}  // namespace fp4gptq::pipeline
