// The fused BatchNorm + add + ReLU (native/kernels/batch_norm_act.h) against ATen's
// composition of the same thing in float64: relu(batch_norm(x, training) + r), its gradients
// by autograd, and torch.nn.BatchNorm2d's running statistics.
#include <ATen/ATen.h>
#include <torch/torch.h>

#include "harness/harness.h"
#include "kernels/batch_norm_act.h"
#include "kernels/batch_norm_act_autograd.h"

using namespace hexa::kernels;

namespace {

at::Generator Gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

struct Case {
  std::vector<int64_t> shape;  // [N, C, H, W] (channels-last) or [N, C]
  bool residual, relu;
  double momentum;
};

// Float32 inputs in the layout the model gives them; a mean far from 0 (3 + N(0, 0.5)) so a
// naive sum of squares would lose the variance.
at::Tensor Input(const std::vector<int64_t>& shape, uint64_t seed) {
  at::Tensor x = 3 + 0.5 * at::randn(shape, Gen(seed), at::kFloat);
  return shape.size() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x.contiguous();
}

void CheckCase(const Case& c) {
  const int64_t channels = c.shape[1];
  const at::Tensor x = Input(c.shape, 1);
  const at::Tensor w = at::rand({channels}, Gen(2), at::kFloat) + 0.5, b = at::randn({channels}, Gen(3), at::kFloat);
  const at::Tensor r = Input(c.shape, 4) - 3;
  const at::Tensor dy = Input(c.shape, 5) - 3;
  at::Tensor rm = at::randn({channels}, Gen(6), at::kFloat), rv = at::rand({channels}, Gen(7), at::kFloat) + 0.5;
  const at::Tensor rm0 = rm.clone(), rv0 = rv.clone();
  const double eps = 1e-5;

  // Reference: ATen in float64, gradients by autograd.
  auto leaf = [](const at::Tensor& t) { return t.to(at::kDouble).detach().requires_grad_(true); };
  at::Tensor x64 = leaf(x), w64 = leaf(w), b64 = leaf(b), r64 = leaf(r);
  at::Tensor rm64 = rm.to(at::kDouble), rv64 = rv.to(at::kDouble);
  at::Tensor ref = at::batch_norm(x64, w64, b64, rm64, rv64, true, c.momentum, eps, false);
  if (c.residual) ref = ref + r64;
  if (c.relu) ref = at::relu(ref);
  ref.backward(dy.to(at::kDouble));

  // Ours, through the autograd Function the model uses.
  at::Tensor xs = x.detach().requires_grad_(true), ws = w.detach().requires_grad_(true),
             bs = b.detach().requires_grad_(true), rs = r.detach().requires_grad_(true);
  at::Tensor y = BatchNormActFunction::apply(xs, ws, bs, c.residual ? std::optional<at::Tensor>(rs) : std::nullopt, rm,
                                             rv, c.momentum, eps, c.relu);
  EXPECT(y.strides() == x.strides());
  EXPECT_CLOSE(y, ref.detach(), 1e-5, 1e-5);
  y.backward(dy);
  EXPECT_CLOSE(xs.grad(), x64.grad(), 1e-4, 1e-4);
  EXPECT_CLOSE(ws.grad(), w64.grad(), 1e-4, 1e-3);
  EXPECT_CLOSE(bs.grad(), b64.grad(), 1e-4, 1e-3);
  if (c.residual) {
    EXPECT_CLOSE(rs.grad(), r64.grad(), 0, 1e-6);
  } else {
    EXPECT(!rs.grad().defined());
  }
  if (c.momentum > 0) {
    EXPECT_CLOSE(rm, rm64, 1e-5, 1e-6);
    EXPECT_CLOSE(rv, rv64, 1e-5, 1e-6);
  } else {
    EXPECT_EQUAL_TENSORS(rm, rm0);  // momentum 0: not touched at all
    EXPECT_EQUAL_TENSORS(rv, rv0);
  }
}

}  // namespace

HEXA_TEST(batch_norm_act, channels_last_with_residual_and_relu_matches_aten_float64) {
  CheckCase({{8, 16, 6, 5}, true, true, 0.1});
}

HEXA_TEST(batch_norm_act, channel_counts_off_the_vector_width_and_without_parts) {
  CheckCase({{4, 7, 5, 3}, true, true, 0.1});  // 7 channels: 4 in a vector, 3 in the tail
  CheckCase({{4, 13, 3, 3}, false, true, 0.0});
  CheckCase({{4, 16, 3, 3}, true, false, 0.3});
  CheckCase({{4, 5, 2, 2}, false, false, 0.1});
}

HEXA_TEST(batch_norm_act, two_dimensional_rows) { CheckCase({{33, 12}, false, true, 0.1}); }

HEXA_TEST(batch_norm_act, many_rows_split_over_threads_give_the_same_statistics) {
  // Enough rows for several parallel chunks: the per-thread float64 sums merge to ATen's.
  CheckCase({{16, 8, 32, 32}, true, true, 0.1});
}

HEXA_TEST(batch_norm_act, relu_keeps_nan_and_masks_gradient_like_aten) {
  at::Tensor x = Input({2, 4, 3, 3}, 8);
  const at::Tensor w = at::ones({4}), b = at::zeros({4});
  BatchNormActForward f = batchNormActForward(x, w, b, std::nullopt, true, 1e-5, at::Tensor(), at::Tensor(), 0.0);
  const at::Tensor ref = at::relu(at::batch_norm(x, w, b, {}, {}, true, 0.0, 1e-5, false));
  EXPECT_CLOSE(f.out, ref, 1e-5, 1e-5);
  EXPECT(f.out.eq(0).any().item<bool>());  // some outputs were cut by the ReLU
  at::Tensor nanX = x.clone();
  nanX.select(1, 2).fill_(std::numeric_limits<float>::quiet_NaN());
  BatchNormActForward g = batchNormActForward(nanX, w, b, std::nullopt, true, 1e-5, at::Tensor(), at::Tensor(), 0.0);
  EXPECT(g.out.select(1, 2).isnan().all().item<bool>());  // as clamp_min: NaN stays NaN
  EXPECT(!g.out.select(1, 1).isnan().any().item<bool>());
}

HEXA_TEST(batch_norm_act, a_residual_in_another_layout_gives_the_same_output) {
  const at::Tensor x = Input({3, 8, 4, 4}, 9), r = Input({3, 8, 4, 4}, 10);
  const at::Tensor w = at::ones({8}), b = at::zeros({8});
  const at::Tensor sameLayout = batchNormActForward(x, w, b, r, true, 1e-5, at::Tensor(), at::Tensor(), 0.0).out;
  const at::Tensor nchw = batchNormActForward(x, w, b, r.contiguous(), true, 1e-5, at::Tensor(), at::Tensor(), 0.0).out;
  EXPECT(!r.contiguous().strides().equals(x.strides()));
  EXPECT_EQUAL_TENSORS(nchw, sameLayout);
}

HEXA_TEST(batch_norm_act, refuses_what_it_does_not_serve) {
  EXPECT(!batchNormActSupported(at::randn({4, 3, 5, 5})));  // NCHW (not channels-last)
  EXPECT(!batchNormActSupported(at::randn({4, 3, 5, 5}, at::kDouble).contiguous(at::MemoryFormat::ChannelsLast)));
  EXPECT(!batchNormActSupported(at::randn({1, 3})));  // one value per channel
  const at::Tensor nhwc = at::randn({4, 3, 5, 5}).contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT(batchNormActSupported(nhwc));
  EXPECT(batchNormActSupported(nhwc, at::randn({4, 3, 5, 5})));  // an NCHW residual: copied once
  EXPECT(!batchNormActSupported(nhwc, at::randn({4, 3, 5, 4})));
  EXPECT(!batchNormActSupported(nhwc, at::randn({4, 3, 5, 5}, at::kDouble)));
  EXPECT_THROWS_WITH(batchNormActForward(at::randn({4, 3, 5, 5}), at::ones({3}), at::zeros({3}), std::nullopt, true,
                                         1e-5, at::Tensor(), at::Tensor(), 0.1),
                     "batchNormAct: x must be a float32 CPU tensor");
  const at::Tensor x = at::randn({4, 3, 5, 5}).contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT_THROWS_WITH(batchNormActForward(x, at::ones({4}), at::zeros({3}), std::nullopt, true, 1e-5, at::Tensor(),
                                         at::Tensor(), 0.1),
                     "batchNormAct: weight must be a contiguous float32 CPU tensor of 3 values");
  EXPECT_THROWS_WITH(batchNormActForward(x, at::ones({3}), at::zeros({3}), at::randn({4, 3, 5, 4}), true, 1e-5,
                                         at::Tensor(), at::Tensor(), 0.1),
                     "batchNormAct: residual must be a float32 CPU tensor of x's shape");
}
