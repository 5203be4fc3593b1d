// The minimal program to copy: a photo and a timm checkpoint in, top-5 classes out.
//
//   example_classify model.safetensors photo.jpg
//
// model.safetensors: timm/mobilenetv4_conv_small.e2400_r224_in1k from the Hugging Face hub.
#include <mnv4/extras/image_file.hpp>       // PNG/JPEG decoding (links mnv4::image_file)
#include <mnv4/extras/imagenet_labels.hpp>  // class names
#include <mnv4/mnv4.hpp>
#include <mnv4/preprocess/transform.hpp>    // timm's exact eval transform

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s model.safetensors photo.jpg\n", argv[0]);
    return 2;
  }
  try {
    mnv4::Model<mnv4::ConvSmall> net(argv[1]);

    // Resize/crop/normalise exactly as timm does for this checkpoint (224 px, crop 0.875).
    const auto config = mnv4::pretrained_config("mobilenetv4_conv_small.e2400_r224_in1k");
    const mnv4::Tensor input = mnv4::preprocess(mnv4::load_image(argv[2]).view(), config->transform());

    const mnv4::Tensor logits = net.run(input);  // [1, 1000]
    const float* row = logits.data();
    const float top_logit = *std::max_element(row, row + 1000);
    double total = 0;
    for (int c = 0; c < 1000; ++c) total += std::exp(row[c] - top_logit);

    std::vector<int> order(1000);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + 5, order.end(), [&](int a, int b) { return row[a] > row[b]; });
    for (int c : std::vector<int>(order.begin(), order.begin() + 5))
      std::printf("%5.1f%%  %s\n", 100.0 * std::exp(row[c] - top_logit) / total, mnv4::kImageNetLabels[c].data());
  } catch (const mnv4::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
