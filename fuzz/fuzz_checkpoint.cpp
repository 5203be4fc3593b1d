// libFuzzer target: parsing plus binding to Conv-S and Hybrid-M.
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnv4::fuzz::bind_checkpoint(data, size);
  return 0;
}
