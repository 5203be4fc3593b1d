// The smallest useful program: load a timm checkpoint, run a batch, print top-5.
//
//   classify mobilenetv4_conv_small.safetensors [input.safetensors]
//
// Without an input file it classifies a synthetic gradient image (to show the API);
// see mnv4-classify for real photos.
#include <mnv4/mnv4.hpp>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s model.safetensors [input.safetensors]\n", argv[0]);
    return 2;
  }
  try {
    mnv4::Model<mnv4::ConvSmall> net(argv[1]);  // timm/mobilenetv4_conv_small.e2400_r224_in1k

    mnv4::Tensor input({1, 3, 224, 224});  // NCHW, normalised with ImageNet mean/std
    if (argc > 2) {
      const auto file = mnv4::io::SafetensorsFile::open(argv[2]);
      const auto& entry = file.at("input");
      input = mnv4::Tensor(entry.shape, file.to_float(entry));
    } else {
      for (int64_t i = 0; i < input.numel(); ++i) input.data()[i] = static_cast<float>(i % 224) / 112.0f - 1.0f;
    }

    const mnv4::Tensor logits = net.run(input);  // [N, 1000]
    const float* row = logits.data();
    std::vector<int> order(1000);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + 5, order.end(), [&](int a, int b) { return row[a] > row[b]; });
    for (int i = 0; i < 5; ++i) std::printf("class %4d  logit %8.4f\n", order[i], static_cast<double>(row[order[i]]));
  } catch (const mnv4::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
