// The ResNet as layers, without a trainer: what its memory formats and thread counts must not
// change.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "harness/harness.h"
#include "models/resnet.h"

using namespace hexa;

namespace {

// at::set_num_threads(n) for one scope; the previous count after it.
class IntraOpThreads {
 public:
  explicit IntraOpThreads(int n) : before_(at::get_num_threads()) { at::set_num_threads(n); }
  ~IntraOpThreads() { at::set_num_threads(before_); }
  IntraOpThreads(const IntraOpThreads&) = delete;
  IntraOpThreads& operator=(const IntraOpThreads&) = delete;

 private:
  int before_;
};

models::ResNet Width8(bool channelsLast) {
  models::ResNetOptions o;
  o.width = 8;  // layer2's shortcut: 8 -> 16 channels, 1x1, stride 2
  o.cifarStem = true;
  o.channelsLast = channelsLast;
  torch::manual_seed(7);  // the same initial weights for every memory format
  return models::ResNet(o);
}

struct Grads {
  at::Tensor features, input;
  std::vector<at::Tensor> params;
};

Grads ForwardBackward(models::ResNet& net, const at::Tensor& images) {
  for (auto& p : net->parameters()) p.mutable_grad() = at::Tensor();
  const at::Tensor x = images.clone().requires_grad_(true);
  const at::Tensor f = net->forward(x);
  f.square().sum().backward();
  Grads g{f.detach(), x.grad().contiguous(), {}};
  for (const auto& p : net->parameters()) g.params.push_back(p.grad().contiguous());
  return g;
}

// Within float32's rounding of the float64 network: |a - ref| <= 1e-5 * max|ref| (+ rtol 1e-4).
void ExpectNearReference(const at::Tensor& a, const at::Tensor& ref) {
  const double scale = ref.abs().max().item<double>();
  EXPECT_CLOSE(a, ref, 1e-4, 1e-5 * scale);
}

}  // namespace

// A channels-last width-8 ResNet-18 at 5 intra-op threads: oneDNN's strided 1x1
// backward-weights kernel corrupted the heap there (an abort in free() or a SIGSEGV within a
// few steps; resnet.cpp, ShortcutConv). The channels-last network computes its shortcut as a
// stride-1 convolution of every second pixel, the NCHW network the strided convolution itself:
// both agree with the same network in float64 (features, the input's gradient, every
// weight's gradient) to float32's rounding.
HEXA_TEST(resnet, channels_last_shortcut_is_the_strided_convolution_at_any_thread_count) {
  IntraOpThreads five(5);
  models::ResNet nhwc = Width8(true), nchw = Width8(false), ref = Width8(false);
  ref->to(at::kDouble);
  for (models::ResNet* net : {&nhwc, &nchw, &ref}) (*net)->train();
  for (uint64_t step = 0; step < 6; ++step) {
    const at::Tensor images = at::rand({8, 3, 16, 16}, at::kFloat);
    const Grads c = ForwardBackward(ref, images.to(at::kDouble));
    for (models::ResNet* net : {&nhwc, &nchw}) {
      const Grads g = ForwardBackward(*net, images);
      ExpectNearReference(g.features, c.features);
      ExpectNearReference(g.input, c.input);
      EXPECT(g.params.size() == c.params.size());
      for (size_t i = 0; i < g.params.size() && i < c.params.size(); ++i) ExpectNearReference(g.params[i], c.params[i]);
    }
  }
}
