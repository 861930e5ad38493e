#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <functional>
#include <map>

#include "python/bindings.hpp"

namespace fp4gptq::python {

namespace {

template <class E>
E named(const std::map<std::string, E>& names, const py::handle v, const std::string& field) {
  return parse_name(names, py::cast<std::string>(v), "QuantizeConfig." + field);
}

using Setter = std::function<void(QuantizeConfig&, py::handle)>;

template <class T>
Setter plain(T QuantizeConfig::*field) {
  return [field](QuantizeConfig& c, py::handle v) { c.*field = py::cast<T>(v); };
}

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> s = {
      {"bits", plain(&QuantizeConfig::bits)},
      {"group_size", plain(&QuantizeConfig::group_size)},
      {"desc_act", plain(&QuantizeConfig::desc_act)},
      {"damp_percent", plain(&QuantizeConfig::damp_percent)},
      {"block_size", plain(&QuantizeConfig::block_size)},
      {"static_groups", plain(&QuantizeConfig::static_groups)},
      {"true_sequential", plain(&QuantizeConfig::true_sequential)},
      {"fuse_scales", plain(&QuantizeConfig::fuse_scales)},
      {"scale2_max", plain(&QuantizeConfig::scale2_max)},
      {"block_scale_search",
       [](QuantizeConfig& c, py::handle v) {
         c.block_scale_search = named(block_scale_search_names(), v, "block_scale_search");
       }},
      {"exclude", plain(&QuantizeConfig::exclude)},
      {"max_shard_bytes", plain(&QuantizeConfig::max_shard_bytes)},
      {"max_act_bytes", plain(&QuantizeConfig::max_act_bytes)},
      {"offload_dir", plain(&QuantizeConfig::offload_dir)},
      {"model_file_base_name", plain(&QuantizeConfig::model_file_base_name)},
      {"moe_min_tokens", plain(&QuantizeConfig::moe_min_tokens)},
      {"moe_calibrate_all", plain(&QuantizeConfig::moe_calibrate_all)},
      {"shard_tokens", plain(&QuantizeConfig::shard_tokens)},
      {"allow_nonfinite", plain(&QuantizeConfig::allow_nonfinite)},
      {"threads", plain(&QuantizeConfig::threads)},
      {"quiet", plain(&QuantizeConfig::quiet)},
      {"work_dir", plain(&QuantizeConfig::work_dir)},
      {"staging_dir", plain(&QuantizeConfig::staging_dir)},
      {"resume", plain(&QuantizeConfig::resume)},
      {"checkpoint_every", plain(&QuantizeConfig::checkpoint_every)},
      {"algorithm",
       [](QuantizeConfig& c, py::handle v) {
         c.algorithm = named<Algorithm>({{"gptq", Algorithm::GPTQ}, {"rtn", Algorithm::RTN}}, v, "algorithm");
       }},
      {"act_dtype", [](QuantizeConfig& c, py::handle v) { c.act_dtype = named(dtype_names(), v, "act_dtype"); }},
      {"hessian_dtype",
       [](QuantizeConfig& c, py::handle v) { c.hessian_dtype = named(dtype_names(), v, "hessian_dtype"); }},
      {"dtype",
       [](QuantizeConfig& c, py::handle v) {  // given: packed formats cast their unquantized tensors to it too
         c.dtype = named(dtype_names(), v, "dtype");
         c.keep_input_dtype = false;
       }},
      {"format", [](QuantizeConfig& c, py::handle v) { c.format = named(format_names(), v, "format"); }},
      {"activations",
       [](QuantizeConfig& c, py::handle v) { c.activations = named(activations_names(), v, "activations"); }},
      {"compute", [](QuantizeConfig& c, py::handle v) { c.compute = named(compute_names(), v, "compute"); }},
  };
  return s;
}

}  // namespace

QuantizeConfig config_from(const py::dict& fields) {
  QuantizeConfig c;
  for (const auto& [key, value] : fields) {
    const auto name = py::cast<std::string>(key);
    const auto it = setters().find(name);
    if (it == setters().end()) throw Error("QuantizeConfig: no field named \"" + name + "\"");
    if (value.is_none()) continue;  // the C++ default
    try {
      it->second(c, value);
    } catch (const py::cast_error&) {
      throw Error("QuantizeConfig." + name + ": a " + std::string(py::str(py::type::handle_of(value).attr("__name__"))) +
                  " cannot be used here");
    }
  }
  check_config(c);
  return c;
}

}  // namespace fp4gptq::python
