#include "dist/mpi_communicator.hpp"

#include <mpi.h>

#include <algorithm>

#include "fp4gptq/error.hpp"

namespace fp4gptq::dist {

namespace {

// MPI counts are int: large buffers go in pieces of at most kPiece elements.
constexpr size_t kPiece = size_t{1} << 28;

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw Error(std::string("MPI: ") + what + " failed");
}

template <typename T>
void allreduce(T* v, size_t n, MPI_Datatype type, MPI_Op op) {
  for (size_t i = 0; i < n; i += kPiece)
    check(MPI_Allreduce(MPI_IN_PLACE, v + i, static_cast<int>(std::min(kPiece, n - i)), type, op, MPI_COMM_WORLD),
          "MPI_Allreduce");
}

class Mpi final : public Communicator {
 public:
  Mpi() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  [[noreturn]] void abort(int code) const override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 protected:
  void do_allreduce_max_i8(int8_t* v, size_t n) const override { allreduce(v, n, MPI_INT8_T, MPI_MAX); }
  void do_allreduce_max_f32(float* v, size_t n) const override { allreduce(v, n, MPI_FLOAT, MPI_MAX); }
  void do_allreduce_sum_i64(int64_t* v, size_t n) const override { allreduce(v, n, MPI_INT64_T, MPI_SUM); }
  void do_reduce_sum_i64(int64_t* v, size_t n, int to) const override {
    for (size_t i = 0; i < n; i += kPiece) {
      const int cnt = static_cast<int>(std::min(kPiece, n - i));
      check(MPI_Reduce(rank_ == to ? MPI_IN_PLACE : v + i, v + i, cnt, MPI_INT64_T, MPI_SUM, to, MPI_COMM_WORLD),
            "MPI_Reduce");
    }
  }
  void do_broadcast(void* data, size_t bytes, int from) const override {
    auto* p = static_cast<char*>(data);
    for (size_t i = 0; i < bytes; i += kPiece)
      check(MPI_Bcast(p + i, static_cast<int>(std::min(kPiece, bytes - i)), MPI_BYTE, from, MPI_COMM_WORLD),
            "MPI_Bcast");
  }
  void do_gather(const double* mine, size_t n, double* all) const override {
    check(MPI_Gather(mine, static_cast<int>(n), MPI_DOUBLE, all, static_cast<int>(n), MPI_DOUBLE, 0, MPI_COMM_WORLD),
          "MPI_Gather");
  }

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace

MpiSession::MpiSession(int& argc, char**& argv) {
  int provided = 0;
  // Collectives come only from the thread that runs the pipeline (its worker threads never call MPI).
  check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  comm_ = std::make_unique<Mpi>();
  set_world(comm_.get());
}

MpiSession::~MpiSession() {
  set_world(nullptr);
  MPI_Finalize();
}

}  // namespace fp4gptq::dist
