#include "pipeline/solved_transfer.hpp"

#include <cstring>
#include <string>

#include "fp4gptq/error.hpp"

namespace fp4gptq::pipeline {

namespace {

class Writer {
 public:
  template <typename T>
  void pod(const T& v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    buf.insert(buf.end(), p, p + sizeof(T));
  }
  template <typename T>
  void vec(const std::vector<T>& v) {
    pod(static_cast<uint64_t>(v.size()));
    const auto* p = reinterpret_cast<const char*>(v.data());
    buf.insert(buf.end(), p, p + v.size() * sizeof(T));
  }
  void str(const std::string& s) { vec(std::vector<char>(s.begin(), s.end())); }
  std::string buf;
};

class Reader {
 public:
  explicit Reader(const std::string& b) : b_(b) {}
  template <typename T>
  T pod() {
    T v;
    take(&v, sizeof(T));
    return v;
  }
  template <typename T>
  std::vector<T> vec() {
    const auto n = pod<uint64_t>();
    if (n > (b_.size() - at_) / sizeof(T)) throw Error("broadcast of solved modules: truncated message");
    std::vector<T> v(n);
    take(v.data(), n * sizeof(T));
    return v;
  }
  std::string str() {
    const auto v = vec<char>();
    return {v.begin(), v.end()};
  }

 private:
  void take(void* p, size_t n) {
    if (n > b_.size() - at_) throw Error("broadcast of solved modules: truncated message");
    std::memcpy(p, b_.data() + at_, n);
    at_ += n;
  }
  const std::string& b_;
  size_t at_ = 0;
};

}  // namespace

void broadcast_solved(const dist::Communicator& comm, int from, const std::vector<const model::PlannedLinear*>& planned,
                      std::vector<SolvedModule>& mods, float& input_amax, const ModuleSolver& solver) {
  if (comm.size() == 1) return;
  Writer w;
  if (comm.rank() == from) {
    w.pod(input_amax);
    w.pod(static_cast<uint64_t>(mods.size()));
    for (const auto& s : mods) {
      const auto& q = s.r.q;
      w.pod(q.rows), w.pod(q.cols), w.vec(q.codes), w.vec(q.block_scales), w.pod(q.scale_2);
      w.str(s.r.stats.dump()), w.pod(s.r.fallback), w.pod(s.r.flops), w.str(s.r.log), w.pod(s.r.warning);
      w.str(s.r.note), w.pod(s.seconds);
    }
  }
  comm.broadcast(w.buf, from);
  if (comm.rank() == from) return;
  Reader r(w.buf);
  input_amax = r.pod<float>();
  const auto n = r.pod<uint64_t>();
  if (n != planned.size())
    throw Error("broadcast of solved modules: " + std::to_string(n) + " modules, expected " +
                std::to_string(planned.size()));
  mods.clear();
  for (uint64_t i = 0; i < n; ++i) {
    SolvedModule s;
    s.m = planned[i];
    auto& q = s.r.q;
    q.rows = r.pod<int64_t>(), q.cols = r.pod<int64_t>();
    q.codes = r.vec<uint8_t>(), q.block_scales = r.vec<uint8_t>(), q.scale_2 = r.pod<float>();
    if (q.codes.size() != static_cast<size_t>(q.rows * q.cols) || q.block_scales.size() != q.codes.size() / 16)
      throw Error("broadcast of solved modules: " + planned[i]->module + ": inconsistent sizes");
    solver.rebuild_stored(s);
    s.r.stats = nlohmann::ordered_json::parse(r.str());
    s.r.fallback = r.pod<bool>(), s.r.flops = r.pod<double>(), s.r.log = r.str(), s.r.warning = r.pod<bool>();
    s.r.note = r.str(), s.seconds = r.pod<double>();
    mods.push_back(std::move(s));
  }
}

}  // namespace fp4gptq::pipeline
