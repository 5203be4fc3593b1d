// libFuzzer target: the safetensors parser.
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnv4::fuzz::parse_safetensors(data, size);
  return 0;
}
