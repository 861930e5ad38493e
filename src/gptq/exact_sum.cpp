#include "gptq/exact_sum.hpp"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "fp4gptq/error.hpp"

namespace fp4gptq::gptq {

namespace {

constexpr int kW = 31;
constexpr int8_t kEmpty = INT8_MIN;     // nothing added (below every grid index)
constexpr int8_t kNonFinite = INT8_MAX;  // a NaN or infinity was added (above every grid index)

// The grid index of finite v != 0: the smallest t with |v| < 2^(kW·t).
int8_t grid_index(double v) {
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  int e = static_cast<int>((bits >> 52) & 0x7ff) - 1022;  // |v| in [2^(e-1), 2^e) for a normal v
  if (e == -1022) std::frexp(v, &e);                      // subnormal
  return static_cast<int8_t>(e > 0 ? (e + kW - 1) / kW : -((-e) / kW));
}

// 2^(kW - kW·t), which scales a value of grid index t to hi's units: a table where it is a normal double.
constexpr int kTable = 30;
double to_hi_units(double v, int t) {
  static const auto table = [] {
    std::array<double, 2 * kTable + 1> p{};
    for (int i = -kTable; i <= kTable; ++i) p[static_cast<size_t>(i + kTable)] = std::ldexp(1.0, kW - kW * i);
    return p;
  }();
  return t >= -kTable && t <= kTable ? v * table[static_cast<size_t>(t + kTable)] : std::ldexp(v, kW - kW * t);
}

}  // namespace

ExactSum::ExactSum(int64_t dim) : dim_(dim) {
  if (dim <= 0) throw Error("ExactSum: dimension must be positive, got " + std::to_string(dim));
  const auto n = static_cast<size_t>(dim * (dim + 1) / 2);
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
  size_t k = 0;
  for (int64_t i = 0; i < dim_; ++i) {
    const T* row = m + i * dim_;
    for (int64_t j = i; j < dim_; ++j, ++k) {
      const double v = static_cast<double>(row[j]);
      if (v == 0 || top_[k] == kNonFinite) continue;
      if (!std::isfinite(v)) {  // stays NaN, for the solver's check of the Hessian to name
        raise(k, kNonFinite);
        continue;
      }
      const int8_t t = grid_index(v);
      if (top_[k] == kEmpty || t > top_[k]) raise(k, t);
      // Scaled to hi's units: |x| < 2^kW. trunc and the remainders are exact in double.
      const double x = to_hi_units(v, top_[k]);
      const double h = std::trunc(x);
      hi_[k] += static_cast<int64_t>(h);
      lo_[k] += static_cast<int64_t>(std::trunc(std::ldexp(x - h, kW)));
    }
  }
}

void ExactSum::add(const float* m) { add_impl(m); }
void ExactSum::add(const double* m) { add_impl(m); }

void ExactSum::sum_over_ranks(const dist::Communicator& comm, int to) {
  if (comm.size() == 1) return;
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
  const auto k = static_cast<size_t>(i * dim_ - i * (i - 1) / 2 + (j - i));
  if (top_[k] == kEmpty) return 0;
  if (top_[k] == kNonFinite) return std::numeric_limits<double>::quiet_NaN();
  // hi·2^W + lo in lo's units, exactly (|hi|, |lo| < 2^63), then one rounding to double.
  const __int128 units = static_cast<__int128>(hi_[k]) * (__int128{1} << kW) + lo_[k];
  return std::ldexp(static_cast<double>(units), kW * top_[k] - 2 * kW);
}

std::vector<float> ExactSum::matrix(double scale) const {
  std::vector<float> h(static_cast<size_t>(dim_ * dim_), 0.0f);
  for (int64_t i = 0; i < dim_; ++i)
    for (int64_t j = i; j < dim_; ++j) {
      const auto v = static_cast<float>(value(i, j) * scale);
      h[static_cast<size_t>(i * dim_ + j)] = v;
      h[static_cast<size_t>(j * dim_ + i)] = v;
    }
  return h;
}

}  // namespace fp4gptq::gptq
