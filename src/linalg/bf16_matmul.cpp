#include "linalg/bf16_matmul.hpp"

#include <map>
#include <mutex>
#include <tuple>

#include "dnnl.hpp"

namespace fp4gptq::linalg {

namespace {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

struct Engine {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};
Engine& engine() {
  static Engine e;
  return e;
}

// oneDNN 2.x API: matmul::desc + primitive_desc(desc, attr, engine).
dnnl::matmul make_matmul(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, bool accumulate) {
  const dnnl::memory::desc a_md({m, k}, dt::bf16, trans_a ? tag::ba : tag::ab);
  const dnnl::memory::desc b_md({k, n}, dt::bf16, trans_b ? tag::ba : tag::ab);
  const dnnl::memory::desc c_md({m, n}, dt::f32, tag::ab);
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  const dnnl::matmul::desc desc(a_md, b_md, c_md);
  return dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, engine().engine));
}

}  // namespace

void bf16_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const uint16_t* a, const uint16_t* b,
               float* c, bool accumulate) {
  if (m == 0 || n == 0) return;
  static std::mutex mu;
  static std::map<std::tuple<bool, bool, int64_t, int64_t, int64_t, bool>, dnnl::matmul> cache;
  dnnl::matmul prim;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto key = std::make_tuple(trans_a, trans_b, m, n, k, accumulate);
    auto it = cache.find(key);
    if (it == cache.end()) it = cache.emplace(key, make_matmul(trans_a, trans_b, m, n, k, accumulate)).first;
    prim = it->second;
  }
  auto& e = engine();
  const dnnl::memory a_mem({{m, k}, dt::bf16, trans_a ? tag::ba : tag::ab}, e.engine, const_cast<uint16_t*>(a));
  const dnnl::memory b_mem({{k, n}, dt::bf16, trans_b ? tag::ba : tag::ab}, e.engine, const_cast<uint16_t*>(b));
  const dnnl::memory c_mem({{m, n}, dt::f32, tag::ab}, e.engine, c);
  prim.execute(e.stream, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
  e.stream.wait();
}

}  // namespace fp4gptq::linalg
