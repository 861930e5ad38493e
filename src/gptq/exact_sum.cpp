#include "gptq/exact_sum.hpp"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "fp4gptq/error.hpp"
#include "linalg/transpose.hpp"

namespace fp4gptq::gptq {

namespace {

constexpr int kW = 31;
constexpr double kTwoToW = static_cast<double>(int64_t{1} << kW);
constexpr int8_t kEmpty = INT8_MIN;      // nothing added (below every grid index)
constexpr int8_t kNonFinite = INT8_MAX;  // a NaN or infinity was added (above every grid index)

// The grid index of finite v != 0: the smallest t with |v| < 2^(kW·t).
int8_t grid_index(double v) {
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  int e = static_cast<int>((bits >> 52) & 0x7ff) - 1022;  // |v| in [2^(e-1), 2^e) for a normal v
  if (e == -1022) std::frexp(v, &e);                      // subnormal
  return static_cast<int8_t>(e > 0 ? (e + kW - 1) / kW : -((-e) / kW));
}

// v · 2^(a + b·t) for a grid index t: a multiplication by a table entry where 2^(a + b·t) is a normal double
// (correctly rounded, as ldexp is, and several times faster than its library call).
constexpr int kTable = 30;
template <int a, int b>
double scale_by_grid(double v, int t) {
  static const auto table = [] {
    std::array<double, 2 * kTable + 1> p{};
    for (int i = -kTable; i <= kTable; ++i) p[static_cast<size_t>(i + kTable)] = std::ldexp(1.0, a + b * i);
    return p;
  }();
  return t >= -kTable && t <= kTable ? v * table[static_cast<size_t>(t + kTable)] : std::ldexp(v, a + b * t);
}
// 2^(kW − kW·t): a value of grid index t in hi's units.
double to_hi_units(double v, int t) { return scale_by_grid<kW, -kW>(v, t); }

}  // namespace

ExactSum::ExactSum(int64_t dim) : dim_(dim) {
  if (dim <= 0) throw Error("ExactSum: dimension must be positive, got " + std::to_string(dim));
}

// The bins on first use (17 bytes per entry: an input that never adds a term, as a one-shard one, pays none).
void ExactSum::allocate() {
  if (!top_.empty()) return;
  const auto n = static_cast<size_t>(dim_ * (dim_ + 1) / 2);
  top_.assign(n, kEmpty);
  hi_.assign(n, 0);
  lo_.assign(n, 0);
}

// Entry k to grid index t > top_[k].
void ExactSum::raise(size_t k, int8_t t) {
  if (top_[k] != kEmpty && t == top_[k] + 1) {
    lo_[k] = hi_[k];
  } else {
    lo_[k] = 0;
  }
  hi_[k] = 0;
  top_[k] = t;
}

template <typename T>
void ExactSum::add_impl(const T* m) {
  // The bins through local pointers: the compiler cannot tell the vectors' int64 stores from their pointers.
  allocate();
  int8_t* const top = top_.data();
  int64_t* const hi = hi_.data();
  int64_t* const lo = lo_.data();
  size_t k = 0;
  for (int64_t i = 0; i < dim_; ++i) {
    const T* row = m + i * dim_;
    for (int64_t j = i; j < dim_; ++j, ++k) {
      const double v = static_cast<double>(row[j]);
      if (v == 0 || top[k] == kNonFinite) continue;
      if (!std::isfinite(v)) {  // stays NaN, for the solver's check of the Hessian to name
        raise(k, kNonFinite);
        continue;
      }
      const int8_t t = grid_index(v);
      if (top[k] == kEmpty || t > top[k]) raise(k, t);
      // Scaled to hi's units: |x| < 2^kW. The conversions to int64 truncate toward zero (one instruction, where
      // std::trunc is a call or a sequence without SSE4.1); the remainders are exact in double.
      const double x = to_hi_units(v, top[k]);
      const auto h = static_cast<int64_t>(x);
      hi[k] += h;
      lo[k] += static_cast<int64_t>((x - static_cast<double>(h)) * kTwoToW);
    }
  }
}

void ExactSum::add(const float* m) { add_impl(m); }
void ExactSum::add(const double* m) { add_impl(m); }

void ExactSum::sum_over_ranks(const dist::Communicator& comm, int to) {
  if (comm.size() == 1) return;
  allocate();
  std::vector<int8_t> t = top_;
  comm.allreduce_max(t.data(), t.size());
  for (size_t k = 0; k < t.size(); ++k)
    if (t[k] != top_[k]) raise(k, t[k]);  // t[k] > top_[k] (kEmpty is the least)
  if (to >= 0) {
    comm.reduce_sum(hi_.data(), hi_.size(), to);
    comm.reduce_sum(lo_.data(), lo_.size(), to);
  } else {
    comm.allreduce_sum(hi_.data(), hi_.size());
    comm.allreduce_sum(lo_.data(), lo_.size());
  }
}

double ExactSum::value(int64_t i, int64_t j) const {
  if (i > j) std::swap(i, j);
  return entry(static_cast<size_t>(i * dim_ - i * (i - 1) / 2 + (j - i)));
}

double ExactSum::entry(size_t k) const {
  if (top_.empty() || top_[k] == kEmpty) return 0;
  if (top_[k] == kNonFinite) return std::numeric_limits<double>::quiet_NaN();
  // hi·2^W + lo in lo's units, then one rounding to double. Both bins are exact doubles while below 2^53 in
  // magnitude (they grow by < 2^W per term added), and then one addition is that one rounding; otherwise
  // through 128 bits (|hi|, |lo| < 2^63).
  constexpr int64_t kExact = int64_t{1} << 53;
  const int64_t h = hi_[k], l = lo_[k];
  const double units = h > -kExact && h < kExact && l > -kExact && l < kExact
                           ? static_cast<double>(h) * kTwoToW + static_cast<double>(l)
                           : static_cast<double>(static_cast<__int128>(h) * (__int128{1} << kW) + l);
  return scale_by_grid<-2 * kW, kW>(units, top_[k]);
}

std::vector<float> ExactSum::matrix(double scale) const {
  std::vector<float> h(static_cast<size_t>(dim_ * dim_), 0.0f);
  size_t k = 0;
  for (int64_t i = 0; i < dim_; ++i) {
    float* row = h.data() + i * dim_;
    for (int64_t j = i; j < dim_; ++j, ++k) row[j] = static_cast<float>(entry(k) * scale);
  }
  linalg::mirror_upper(h.data(), dim_);
  return h;
}

}  // namespace fp4gptq::gptq
