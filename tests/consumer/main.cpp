// Builds against an installed mnv4 and runs one forward pass on synthetic weights.
#include <mnv4/mnv4.hpp>

#include <cstdio>

int main() {
  mnv4::Model<mnv4::ConvSmall> net;
  net.load_random(0);
  const mnv4::Tensor logits = net.run(mnv4::Tensor({1, 3, 64, 64}));
  std::printf("consumer: %s v%d.%d.%d, logits %s\n", mnv4::ConvSmall::name.data(), mnv4::kVersionMajor,
              mnv4::kVersionMinor, mnv4::kVersionPatch, mnv4::shape_string(logits.shape()).c_str());
  return logits.dim(1) == 1000 ? 0 : 1;
}
