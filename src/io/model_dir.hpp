#pragma once
// A Hugging Face model directory: config.json plus its safetensors, either sharded through
// model.safetensors.index.json or as one or more *.safetensors files. Tensors are looked up by name across
// shards; their bytes come straight from the memory maps.
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/safetensors_reader.hpp"

namespace fp4gptq::io {

// model.safetensors.index.json's weight_map grouped by shard file (sorted by name), each with its tensor names;
// `source` names the file in errors. Linear in the number of entries (a sorted map, not ordered_json).
std::map<std::string, std::vector<std::string>> parse_index(const nlohmann::json& index, const std::string& source);
std::map<std::string, std::vector<std::string>> read_index(const std::filesystem::path& index);

struct TensorRef {
  const SafetensorsFile* file;
  const TensorInfo* info;
  std::vector<float> read_f32() const { return file->read_f32(*info); }
  void release() const { file->release(*info); }
};

class ModelDir {
 public:
  explicit ModelDir(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  const nlohmann::ordered_json& config() const { return config_; }
  std::filesystem::path config_path() const { return dir_ / "config.json"; }
  const std::vector<std::string>& tensor_names() const { return names_; }  // file order, then offset order
  bool has(const std::string& name) const { return refs_.count(name) != 0; }
  const TensorRef& tensor(const std::string& name) const;  // throws naming the directory and tensor
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  void release_all() const;

 private:
  void add_file(const std::filesystem::path& path, const std::vector<std::string>* only);

  std::filesystem::path dir_;
  nlohmann::ordered_json config_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, TensorRef> refs_;
};

}  // namespace fp4gptq::io
