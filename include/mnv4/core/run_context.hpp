#pragma once
// What a block's run() may use besides its buffers. Extended, not replaced, as
// execution features arrive (thread pool, profiling hooks).
#include "mnv4/config.hpp"
namespace mnv4::inline MNV4_ISA_NAMESPACE {

class ThreadPool;

struct RunContext {
  ThreadPool* pool = nullptr;  // null: run on the calling thread
};

}  // namespace mnv4
