#include "io/model_dir.hpp"

#include <algorithm>
#include <map>
#include <unordered_set>

#include "fp4gptq/error.hpp"
#include "io/error_kind.hpp"
#include "io/json_file.hpp"

namespace fp4gptq::io {

namespace fs = std::filesystem;

std::map<std::string, std::vector<std::string>> parse_index(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(source + ": missing object 'weight_map'");
  std::map<std::string, std::vector<std::string>> by_file;
  for (const auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string()) throw Error(source + ": weight_map entry '" + name + "' is not a file name");
    const auto& f = file.get_ref<const std::string&>();
    if (f.empty() || fs::path(f).has_parent_path() || f == "." || f == "..")
      throw Error(source + ": weight_map file '" + f + "' of '" + name + "' must be a file name inside the directory");
    by_file[f].push_back(name);
  }
  return by_file;
}

std::map<std::string, std::vector<std::string>> read_index(const fs::path& index) {
  return parse_index(read_json_unordered(index, kIndexLimits), index.string());
}

ModelDir::ModelDir(const fs::path& dir) : dir_(dir) {
  if (!fs::is_directory(dir))
    throw Error(dir.string() + ": not a directory (expected a Hugging Face model directory)", open_error_kind(dir));
  config_ = read_json(config_path());
  if (!config_.is_object()) throw Error(config_path().string() + ": expected a JSON object");

  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    for (const auto& [file, names] : read_index(index)) add_file(dir / file, &names);
  } else {
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ".safetensors") found.push_back(e.path());
    std::sort(found.begin(), found.end());
    if (found.empty()) throw Error(dir.string() + ": no *.safetensors files and no model.safetensors.index.json");
    for (const auto& f : found) add_file(f, nullptr);
  }
}

void ModelDir::add_file(const fs::path& path, const std::vector<std::string>* only) {
  if (!fs::exists(path)) throw Error(path.string() + ": listed in model.safetensors.index.json but missing", ErrorKind::MissingFile);
  files_.push_back(std::make_unique<SafetensorsFile>(path));
  const SafetensorsFile* f = files_.back().get();
  if (only) {
    for (const auto& name : *only)
      if (!f->find(name))
        throw Error(path.string() + ": tensor '" + name +
                    "' is mapped to this file by model.safetensors.index.json but is not in it");
  }
  const std::unordered_set<std::string> listed =
      only ? std::unordered_set<std::string>(only->begin(), only->end()) : std::unordered_set<std::string>{};
  for (const auto& t : f->tensors()) {
    if (only && !listed.count(t.name)) continue;
    const auto [it, inserted] = refs_.emplace(t.name, TensorRef{f, &t});
    if (!inserted)
      throw Error(dir_.string() + ": tensor '" + t.name + "' appears in both " +
                  it->second.file->path().filename().string() + " and " + path.filename().string());
    names_.push_back(t.name);
  }
}

const TensorRef& ModelDir::tensor(const std::string& name) const {
  const auto it = refs_.find(name);
  if (it == refs_.end()) throw Error(dir_.string() + ": no tensor named '" + name + "' in the checkpoint");
  return it->second;
}

void ModelDir::release_all() const {
  for (const auto& f : files_) f->release_all();
}

}  // namespace fp4gptq::io
