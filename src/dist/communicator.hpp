#pragma once
// The ranks of a data-parallel run (docs/DESIGN.md §13) and the collectives the pipeline uses between them. One
// process is the serial communicator (every collective a no-op); `mpirun -np N fp4gptq quantize` gives the
// CLI an MPI one (mpi_communicator.hpp). Every rank calls the collectives in the same order, from the thread
// that started the run. Each collective counts the payload bytes this rank hands to it (bytes_sent).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace fp4gptq::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool is_root() const { return rank() == 0; }

  // In place, over all ranks: element-wise maximum / sum (exact for these types, so in any reduction order).
  void allreduce_max(int8_t* v, size_t n) const { count(n), do_allreduce_max_i8(v, n); }
  void allreduce_max(float* v, size_t n) const { count(4 * n), do_allreduce_max_f32(v, n); }
  void allreduce_sum(int64_t* v, size_t n) const { count(8 * n), do_allreduce_sum_i64(v, n); }
  // In place: the element-wise sum over all ranks on rank `to` (the others' buffers are left as they were).
  void reduce_sum(int64_t* v, size_t n, int to) const { count(8 * n), do_reduce_sum_i64(v, n, to); }
  // `bytes` from rank `from` to every rank.
  void broadcast(void* data, size_t bytes, int from) const { count(bytes), do_broadcast(data, bytes, from); }
  // `s` (any length) from rank `from` to every rank.
  void broadcast(std::string& s, int from) const {
    auto n = static_cast<uint64_t>(s.size());
    broadcast(&n, sizeof n, from);
    s.resize(n);
    broadcast(s.data(), s.size(), from);
  }
  // Each rank's n doubles into all[rank * n + i] on the root (all: size()·n entries there, unused elsewhere).
  void gather(const double* mine, size_t n, double* all) const { count(8 * n), do_gather(mine, n, all); }
  // Ends every rank of the job with `code` (a failure on one rank must not leave the others waiting).
  [[noreturn]] virtual void abort(int code) const = 0;

  uint64_t bytes_sent() const { return bytes_; }

 protected:
  virtual void do_allreduce_max_i8(int8_t* v, size_t n) const = 0;
  virtual void do_allreduce_max_f32(float* v, size_t n) const = 0;
  virtual void do_allreduce_sum_i64(int64_t* v, size_t n) const = 0;
  virtual void do_reduce_sum_i64(int64_t* v, size_t n, int to) const = 0;
  virtual void do_broadcast(void* data, size_t bytes, int from) const = 0;
  virtual void do_gather(const double* mine, size_t n, double* all) const = 0;

 private:
  void count(size_t bytes) const {
    if (size() > 1) bytes_ += bytes;
  }
  mutable std::atomic<uint64_t> bytes_{0};
};

// One process: rank 0 of 1.
const Communicator& serial();
// The communicator of this process's run: serial() unless set_world was given another (the CLI under mpirun).
const Communicator& world();
void set_world(const Communicator* comm);

}  // namespace fp4gptq::dist
