#include "io/checkpoint_writer.hpp"

#include <cctype>
#include <cstdio>

#include "fp4gptq/error.hpp"
#include "io/crc32.hpp"
#include "io/json_file.hpp"

namespace fp4gptq::io {

namespace fs = std::filesystem;

uint64_t parse_size(const std::string& text, const std::string& option) {
  size_t pos = 0;
  while (pos < text.size() && (std::isdigit(static_cast<unsigned char>(text[pos])) || text[pos] == '.')) ++pos;
  std::string unit = text.substr(pos);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(text.substr(0, pos), &used);
    if (used != pos) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw Error(option + ": '" + text + "' is not a size (expected e.g. 5GB, 500MB, 2GiB or a byte count)");
  }
  double mult = 0;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "K")
    mult = 1024.0;
  else if (unit == "M")
    mult = 1024.0 * 1024;
  else if (unit == "G")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "KB")
    mult = 1e3;
  else if (unit == "MB")
    mult = 1e6;
  else if (unit == "GB")
    mult = 1e9;
  else if (unit == "TB")
    mult = 1e12;
  else if (unit == "KIB")
    mult = 1024.0;
  else if (unit == "MIB")
    mult = 1024.0 * 1024;
  else if (unit == "GIB")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "TIB")
    mult = 1024.0 * 1024 * 1024 * 1024;
  else
    throw Error(option + ": unknown unit '" + text.substr(pos) + "' in '" + text +
                "' (B, KB, MB, GB, TB decimal; K, M, G, KiB, MiB, GiB, TiB binary)");
  const double bytes = value * mult;
  if (bytes < 1) throw Error(option + ": '" + text + "' must be at least one byte");
  return static_cast<uint64_t>(bytes);
}

CheckpointWriter::CheckpointWriter(const fs::path& out_dir, bool overwrite, const CheckpointPlan& plan)
    : CheckpointWriter(StagedDir(out_dir, overwrite), plan) {}

CheckpointWriter::CheckpointWriter(StagedDir staging, const CheckpointPlan& plan)
    : staged_(std::move(staging)), file_base_(plan.file_base) {
  for (const auto& s : plan.scale_tensors) scale_order_.push_back(s.name);
  layout_crc_ = io::layout_checksum(plan);
  // Greedy shard split in tensor order, as transformers' save_pretrained does.
  std::vector<std::vector<TensorSpec>> groups(1);
  uint64_t in_group = 0;
  for (const auto& s : plan.model_tensors) {
    if (plan.max_shard_bytes && in_group > 0 && in_group + s.nbytes() > plan.max_shard_bytes) {
      groups.emplace_back();
      in_group = 0;
    }
    groups.back().push_back(s);
    in_group += s.nbytes();
    total_bytes_ += s.nbytes();
    model_order_.push_back(s.name);
  }
  const size_t n = groups.size();
  for (size_t i = 0; i < n; ++i) {
    char index[32];
    std::snprintf(index, sizeof index, "-%05zu-of-%05zu", i + 1, n);
    const std::string name = file_base_ + (n == 1 ? "" : index) + ".safetensors";
    for (const auto& s : groups[i]) shard_of_[s.name] = i;
    shard_names_.push_back(name);
    shards_.push_back(std::make_unique<SafetensorsWriter>(
        staged_.path() / name, groups[i], std::map<std::string, std::string>{{"format", "pt"}}, /*keep=*/true));
  }
  if (plan.scales_file)
    scales_ = std::make_unique<SafetensorsWriter>(staged_.path() / (file_base_ + "_scales.safetensors"),
                                                  plan.scale_tensors,
                                                  std::map<std::string, std::string>{{"format", "pt"}}, /*keep=*/true);
  else if (!plan.scale_tensors.empty())
    throw Error("checkpoint: scale tensors planned without a scales file");
}

bool CheckpointWriter::resumed() const {
  if (!staged_.resumed()) return false;
  for (const auto& s : shards_)
    if (!s->reused()) return false;
  return !scales_ || scales_->reused();
}

SafetensorsWriter& CheckpointWriter::file_of(const std::string& name) const {
  if (const auto it = shard_of_.find(name); it != shard_of_.end()) return *shards_[it->second];
  if (scales_ && scales_->has(name)) return *scales_;
  throw Error("checkpoint: tensor '" + name + "' is not part of the output plan");
}

std::vector<std::string> CheckpointWriter::tensor_names() const {
  std::vector<std::string> names = model_order_;
  for (const auto& n : scale_order_) names.push_back(n);
  return names;
}

void CheckpointWriter::mark_written(const std::vector<std::string>& names) {
  for (const auto& n : names) file_of(n).mark_written(n);
}

void CheckpointWriter::sync() const {
  for (const auto& s : shards_) s->sync();
  if (scales_) scales_->sync();
}

uint32_t CheckpointWriter::checksum(const std::vector<std::string>& names) const {
  uint32_t crc = 0;
  for (const auto& n : names) crc = file_of(n).crc32(n, crc);
  return crc;
}

uint32_t layout_checksum(const CheckpointPlan& plan) {
  uint32_t crc = 0;
  auto add = [&](const std::string& t) { crc = io::crc32(t.data(), t.size(), crc); };
  add(std::to_string(plan.max_shard_bytes));
  if (plan.file_base != kModelFileBase) add("file_base " + plan.file_base);  // the default keeps older checksums
  for (const auto* list : {&plan.model_tensors, &plan.scale_tensors})
    for (const auto& s : *list)
      add(s.name + "|" + std::string(numeric::dtype_name(s.dtype)) + "|" + shape_str(s.shape) + "\n");
  return crc;
}

const TensorSpec& CheckpointWriter::model_spec(const std::string& name) const {
  const auto it = shard_of_.find(name);
  if (it == shard_of_.end()) throw Error("checkpoint: tensor '" + name + "' is not part of the output plan");
  return shards_[it->second]->spec(name);
}

std::string CheckpointWriter::model_file_of(const std::string& name) const {
  model_spec(name);
  return shard_names_[shard_of_.at(name)];
}

void CheckpointWriter::write_model_part(const std::string& name, uint64_t offset, const void* data, uint64_t nbytes) {
  model_spec(name);
  shards_[shard_of_.at(name)]->write_part(name, offset, data, nbytes);
}

void CheckpointWriter::write_scale(const std::string& name, const void* data, uint64_t nbytes) {
  file_of(name).write(name, data, nbytes);
}

void CheckpointWriter::write_scale_part(const std::string& name, uint64_t offset, const void* data, uint64_t nbytes) {
  file_of(name).write_part(name, offset, data, nbytes);
}

void CheckpointWriter::write_json(const std::string& filename, const nlohmann::ordered_json& j) const {
  io::write_json(staged_.path() / filename, j);
}

void CheckpointWriter::copy_file(const fs::path& src) const {
  std::error_code ec;
  fs::copy_file(src, staged_.path() / src.filename(), fs::copy_options::overwrite_existing, ec);
  if (ec) throw Error(src.string() + ": cannot copy into the output: " + ec.message());
}

void CheckpointWriter::commit() {
  finish_files();
  staged_.commit();
}

void CheckpointWriter::commit_to(const fs::path& out_dir, bool overwrite, const std::vector<fs::path>& inputs) {
  finish_files();
  staged_.commit_to(out_dir, overwrite, inputs);
}

void CheckpointWriter::finish_files() {
  for (auto& s : shards_) s->finish();
  if (scales_) scales_->finish();
  // The index maps the model's tensors only: loaders (transformers, vLLM) read exactly the files it names,
  // so the scales file stays out of their way.
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", total_bytes_}};
  nlohmann::ordered_json map = nlohmann::ordered_json::object();
  for (const auto& name : model_order_) map[name] = shard_names_[shard_of_.at(name)];
  index["weight_map"] = map;
  write_json("model.safetensors.index.json", index);
}

}  // namespace fp4gptq::io
