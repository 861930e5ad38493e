#include "linalg/bf16_matmul.hpp"

#include <map>
#include <mutex>
#include <tuple>

#include "dnnl.hpp"

namespace fp4gptq::linalg {

namespace {

using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

dnnl::engine& engine() {
  static dnnl::engine e{dnnl::engine::kind::cpu, 0};
  return e;
}

// One stream per thread: parallel_tasks workers run matmuls side by side.
dnnl::stream& stream() {
  thread_local dnnl::stream s{engine()};
  return s;
}

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool>;

// oneDNN 2.x API: matmul::desc + primitive_desc(desc, attr, engine).
dnnl::matmul make_matmul(const Key& key) {
  const auto [m, n, k, ars, acs, brs, bcs, ldc, accumulate] = key;
  const dnnl::memory::desc a_md(dims{m, k}, dt::bf16, dims{ars, acs});
  const dnnl::memory::desc b_md(dims{k, n}, dt::bf16, dims{brs, bcs});
  const dnnl::memory::desc c_md(dims{m, n}, dt::f32, dims{ldc, 1});
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  const dnnl::matmul::desc desc(a_md, b_md, c_md);
  return dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, engine()));
}

}  // namespace

void bf16_gemm(int64_t m, int64_t n, int64_t k, Bf16View a, Bf16View b, float* c, int64_t ldc, bool accumulate) {
  if (m == 0 || n == 0) return;
  static std::mutex mu;
  static std::map<Key, dnnl::matmul> cache;
  const Key key{m, n, k, a.row_stride, a.col_stride, b.row_stride, b.col_stride, ldc, accumulate};
  dnnl::matmul prim;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it == cache.end()) it = cache.emplace(key, make_matmul(key)).first;
    prim = it->second;
  }
  auto& e = engine();
  const dnnl::memory a_mem({dims{m, k}, dt::bf16, dims{a.row_stride, a.col_stride}}, e, const_cast<uint16_t*>(a.data));
  const dnnl::memory b_mem({dims{k, n}, dt::bf16, dims{b.row_stride, b.col_stride}}, e, const_cast<uint16_t*>(b.data));
  const dnnl::memory c_mem({dims{m, n}, dt::f32, dims{ldc, 1}}, e, c);
  auto& s = stream();
  prim.execute(s, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
  s.wait();
}

void bf16_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const uint16_t* a, const uint16_t* b,
               float* c, bool accumulate) {
  const Bf16View av = trans_a ? Bf16View{a, 1, m} : Bf16View{a, k, 1};
  const Bf16View bv = trans_b ? Bf16View{b, 1, k} : Bf16View{b, n, 1};
  bf16_gemm(m, n, k, av, bv, c, n, accumulate);
}

}  // namespace fp4gptq::linalg
