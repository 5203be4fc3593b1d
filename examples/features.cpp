// A backbone for a detector or segmenter: multi-scale features from every stage.
//
//   example_features [model.safetensors]     (synthetic weights without a checkpoint)
#include <mnv4/mnv4.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  try {
    mnv4::Model<mnv4::HybridMedium> backbone;
    if (argc > 1)
      backbone.load(argv[1]);
    else
      backbone.load_random(0);

    // Any size ≥ 32 works, not only the training resolution: here a 640×480 frame.
    const mnv4::Tensor frame({1, 3, 480, 640});
    const mnv4::Features f = backbone.features(frame);

    const auto show = [&](const char* name, const mnv4::Tensor& t) {
      std::printf("%-10s %-18s stride %d\n", name, mnv4::shape_string(t.shape()).c_str(),
                  static_cast<int>(480 / t.dim(2)));
    };
    show("stem", f.stem);
    for (std::size_t s = 0; s < f.stages.size(); ++s) show(("stage " + std::to_string(s)).c_str(), f.stages[s]);
    std::printf("pre_logits %s\n", mnv4::shape_string(f.pre_logits.shape()).c_str());

    // The same shapes are known at compile time, before any weights exist.
    static_assert(mnv4::HybridMedium::stage_shape(3, 480, 640)[0] == 256);
    constexpr auto last = mnv4::HybridMedium::stage_shape(4, 480, 640);
    std::printf("compile-time last stage: %d x %d x %d\n", last[0], last[1], last[2]);
  } catch (const mnv4::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
