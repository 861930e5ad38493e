#pragma once
// An order-independent sum of symmetric matrices (the Hessian's partial sums, docs/DESIGN.md §13): the result
// depends only on the set of matrices added, not on their order nor on how they were split between ranks,
// so a data-parallel run's Hessians are the same bytes for any rank count.
//
// Binned fixed point after ReproBLAS (Demmel & Nguyen, "Parallel reproducible summation", IEEE TC 2015): each
// entry keeps an exponent index t on a global grid of W = 31 bits and two int64 bins, hi in units of
// 2^(W·t − W) and lo in units of 2^(W·t − 2W). A value v with |v| < 2^(W·t) is split into
// hi_v = trunc(v / 2^(W·t−W)) and lo_v = trunc of the remainder in lo's units, so the entry holds
// Σ trunc(v / 2^(W·t−2W)) exactly. When a larger value raises t by one, hi becomes lo (the truncations at
// the coarser grid are exactly the old hi's) and hi starts at zero; by two or more, both bins were below
// the new grid and are dropped. Ranks first agree on t (max), then add their bins (int64 sums are exact).
// Each entry is exact to at least 31 bits of its largest term; up to 2^32 terms fit without overflow.
#include <cstdint>
#include <vector>

#include "dist/communicator.hpp"

namespace fp4gptq::gptq {

class ExactSum {
 public:
  explicit ExactSum(int64_t dim);

  // Adds the upper triangle (i <= j) of the row-major [dim, dim] matrix m.
  void add(const float* m);
  void add(const double* m);
  // Every rank's sum added together, on every rank (to < 0) or on rank `to` only (the others' sums are then
  // left meaningless).
  void sum_over_ranks(const dist::Communicator& comm, int to = -1);
  // scale · sum as a full symmetric FP32 [dim, dim] matrix.
  std::vector<float> matrix(double scale) const;
  // The sum's upper-triangle entry (i, j) in double (for tests).
  double value(int64_t i, int64_t j) const;
  int64_t dim() const { return dim_; }

 private:
  template <typename T>
  void add_impl(const T* m);
  void raise(size_t k, int8_t t);
  void allocate();
  double entry(size_t k) const;  // packed upper-triangle entry k, as value()
  int64_t dim_;
  std::vector<int8_t> top_;       // per packed upper-triangle entry; kEmpty: nothing added yet (none: no term)
  std::vector<int64_t> hi_, lo_;  // the two bins
};

}  // namespace fp4gptq::gptq
