#pragma once
// The MPI communicator (Open MPI): MPI_COMM_WORLD of the job mpirun started. An MpiSession initialises MPI
// for the process's lifetime and makes its communicator dist::world(); a process not started by mpirun gets
// a world of one rank, which behaves as serial().
#include <memory>

#include "dist/communicator.hpp"

namespace fp4gptq::dist {

class MpiSession {
 public:
  MpiSession(int& argc, char**& argv);
  ~MpiSession();  // MPI_Finalize
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

 private:
  std::unique_ptr<Communicator> comm_;
};

}  // namespace fp4gptq::dist
