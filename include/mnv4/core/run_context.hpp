#pragma once
// What a block's run() may use besides its buffers. Extended, not replaced, as
// execution features arrive (thread pool, profiling hooks).
namespace mnv4 {

class ThreadPool;

struct RunContext {
  ThreadPool* pool = nullptr;  // null: run on the calling thread
};

}  // namespace mnv4
