// Declaring a new MobileNetV4-style network from block specs, at compile time:
// a Conv-S trimmed for tiny inputs (fewer, narrower blocks), then running it.
#include <mnv4/mnv4.hpp>

#include <cstdio>

namespace my {
using namespace mnv4::recipe;  // stem, cn, er, uir, mqa, head: timm's arch-string vocabulary
using mnv4::Act;

// uir(in, start_dw_k, mid_dw_k, stride, expansion, out, act, layer_scale)
using TinyNet = mnv4::Network<"tiny_mnv4", stem(16, Act::kRelu),
    mnv4::Stages<
        mnv4::Stage<cn(16, 3, 2, 24, Act::kRelu)>,
        mnv4::Stage<uir(24, 3, 3, 2, 4, 40, Act::kRelu, false),   // ExtraDW, stride 2
                    uir(40, 0, 3, 1, 2, 40, Act::kRelu, false)>,  // IR
        mnv4::Stage<uir(40, 5, 5, 2, 4, 80, Act::kRelu, false),
                    mqa(80, 2, 32, 2, true),                      // Mobile MQA, K/V downsampled
                    uir(80, 3, 0, 1, 4, 80, Act::kRelu, true)>,   // ConvNeXt-like
        mnv4::Stage<uir(80, 0, 3, 2, 4, 96, Act::kRelu, false)>,  // IR, stride 2
        mnv4::Stage<cn(96, 1, 1, 320, Act::kRelu)>>,
    head(320, Act::kRelu)>;
}  // namespace my

// Channel chaining, parameter counts and MACs are checked and computed by the compiler.
static_assert(my::TinyNet::channels_chain());
static_assert(my::TinyNet::params() < 2'000'000);

int main() {
  std::printf("%s: %lld parameters, %.1f MMACs at 160x160\n", my::TinyNet::name.data(),
              static_cast<long long>(my::TinyNet::params()), my::TinyNet::macs_at(160, 160) / 1e6);
  for (const mnv4::BlockShape& b : my::TinyNet::describe(160, 160))
    std::printf("  stage %2d block %d  %-14s %4d -> %4d  out %3dx%-3d  params %7lld\n", b.stage, b.index, b.kind,
                b.in_channels, b.out_channels, b.out_h, b.out_w, static_cast<long long>(b.params));

  mnv4::Model<my::TinyNet> net;
  net.load_random(42);  // or net.load("tiny.safetensors") with timm-style key names
  const mnv4::Tensor logits = net.run(mnv4::Tensor({2, 3, 160, 160}));
  std::printf("logits %s\n", mnv4::shape_string(logits.shape()).c_str());
  return 0;
}
