// The fused BatchNorm + add + ReLU (native/kernels/batch_norm_act.h) against ATen's
// composition of the same thing in float64: relu(batch_norm(x, training) + r), its gradients
// by autograd, and torch.nn.BatchNorm2d's running statistics.
#include <ATen/ATen.h>
#include <torch/torch.h>

#include <c10/util/BFloat16.h>

#include <cstring>

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

// The reference both activation dtypes are held to: ATen's composition in float64 from the same
// values, gradients by autograd (the float64 leaves hold them), running statistics updated.
struct Reference {
  at::Tensor y, x, w, b, r, runningMean, runningVar;
};

Reference Float64Reference(const Case& c, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                           const at::Tensor& r, const at::Tensor& rm, const at::Tensor& rv, const at::Tensor& dy,
                           double eps) {
  auto leaf = [](const at::Tensor& t) { return t.to(at::kDouble).detach().requires_grad_(true); };
  Reference ref{at::Tensor(), leaf(x), leaf(w), leaf(b), leaf(r), rm.to(at::kDouble), rv.to(at::kDouble)};
  ref.y = at::batch_norm(ref.x, ref.w, ref.b, ref.runningMean, ref.runningVar, true, c.momentum, eps, false);
  if (c.residual) ref.y = ref.y + ref.r;
  if (c.relu) ref.y = at::relu(ref.y);
  ref.y.backward(dy.to(at::kDouble));
  return ref;
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

  const Reference ref = Float64Reference(c, x, w, b, r, rm, rv, dy, eps);

  // Ours, through the autograd Function the model uses.
  at::Tensor xs = x.detach().requires_grad_(true), ws = w.detach().requires_grad_(true),
             bs = b.detach().requires_grad_(true), rs = r.detach().requires_grad_(true);
  at::Tensor y = BatchNormActFunction::apply(xs, ws, bs, c.residual ? std::optional<at::Tensor>(rs) : std::nullopt, rm,
                                             rv, c.momentum, eps, c.relu);
  EXPECT(y.strides() == x.strides());
  EXPECT_CLOSE(y, ref.y.detach(), 1e-5, 1e-5);
  y.backward(dy);
  EXPECT_CLOSE(xs.grad(), ref.x.grad(), 1e-4, 1e-4);
  EXPECT_CLOSE(ws.grad(), ref.w.grad(), 1e-4, 1e-3);
  EXPECT_CLOSE(bs.grad(), ref.b.grad(), 1e-4, 1e-3);
  if (c.residual) {
    EXPECT_CLOSE(rs.grad(), ref.r.grad(), 0, 1e-6);
  } else {
    EXPECT(!rs.grad().defined());
  }
  if (c.momentum > 0) {
    EXPECT_CLOSE(rm, ref.runningMean, 1e-5, 1e-6);
    EXPECT_CLOSE(rv, ref.runningVar, 1e-5, 1e-6);
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
  // 43 channels: two 16-channel blocks of the reductions, an 8-channel one and 3 left over.
  CheckCase({{6, 43, 3, 3}, true, true, 0.1});
  CheckCase({{9, 43}, false, true, 0.1});
}

HEXA_TEST(batch_norm_act, two_dimensional_rows) { CheckCase({{33, 12}, false, true, 0.1}); }

HEXA_TEST(batch_norm_act, many_rows_split_over_threads_give_the_same_statistics) {
  // Enough rows for several parallel chunks: the per-thread float64 sums merge to ATen's.
  CheckCase({{16, 8, 32, 32}, true, true, 0.1});
}

// bfloat16 activations, as bf16 autocast gives them (float32 parameters and statistics). The
// reference is float64 from the same bfloat16 values: ours computes in float32 and rounds once,
// so it is within one rounding of bfloat16 (2^-8 relative) of the exact value.
void CheckBf16Case(const Case& c) {
  const int64_t channels = c.shape[1];
  const at::Tensor x = Input(c.shape, 11).to(at::kBFloat16);
  const at::Tensor w = at::rand({channels}, Gen(12), at::kFloat) + 0.5, b = at::randn({channels}, Gen(13), at::kFloat);
  const at::Tensor r = (Input(c.shape, 14) - 3).to(at::kBFloat16);
  const at::Tensor dy = (Input(c.shape, 15) - 3).to(at::kBFloat16);
  at::Tensor rm = at::randn({channels}, Gen(16), at::kFloat), rv = at::rand({channels}, Gen(17), at::kFloat) + 0.5;
  const double eps = 1e-5;
  EXPECT(x.strides() == Input(c.shape, 11).strides());  // the layout survives the conversion

  const Reference ref = Float64Reference(c, x, w, b, r, rm, rv, dy, eps);
  // ATen's own bfloat16 composition (what the model ran before the fused path took bfloat16).
  at::Tensor aten = at::batch_norm(x, w, b, {}, {}, true, 0.0, eps, false);
  if (c.residual) aten = aten + r;
  if (c.relu) aten = at::relu(aten);

  at::Tensor xs = x.detach().requires_grad_(true), ws = w.detach().requires_grad_(true),
             bs = b.detach().requires_grad_(true), rs = r.detach().requires_grad_(true);
  at::Tensor y = BatchNormActFunction::apply(xs, ws, bs, c.residual ? std::optional<at::Tensor>(rs) : std::nullopt, rm,
                                             rv, c.momentum, eps, c.relu);
  EXPECT(y.scalar_type() == at::kBFloat16);
  EXPECT(y.strides() == x.strides());
  const double bf16Rounding = 1.0 / 256;  // 2^-8: half a unit in the last place, with room for float32's
  EXPECT_CLOSE(y, ref.y.detach(), bf16Rounding, 1e-5);
  EXPECT_CLOSE(y, aten, 2 * bf16Rounding, 1e-2);  // ATen rounds twice (after the BatchNorm and after the add)
  y.backward(dy);
  EXPECT(xs.grad().scalar_type() == at::kBFloat16 && ws.grad().scalar_type() == at::kFloat);
  // dx cancels (g − mean(g) − ...): its rounding is relative to the gradient's scale, not each value.
  const double dxScale = ref.x.grad().abs().max().item<double>();
  EXPECT_CLOSE(xs.grad(), ref.x.grad(), bf16Rounding, 1e-3 * dxScale);
  EXPECT_CLOSE(ws.grad(), ref.w.grad(), 1e-4, 1e-3);  // float64 sums of exact bfloat16 products
  EXPECT_CLOSE(bs.grad(), ref.b.grad(), 1e-4, 1e-3);
  if (c.residual) EXPECT_CLOSE(rs.grad(), ref.r.grad(), 0, 1e-6);  // dy itself where the ReLU passed it
  if (c.momentum > 0) {
    EXPECT_CLOSE(rm, ref.runningMean, 1e-5, 1e-6);
    EXPECT_CLOSE(rv, ref.runningVar, 1e-5, 1e-6);
  }
}

HEXA_TEST(batch_norm_act, bfloat16_activations_match_float64_within_one_rounding) {
  CheckBf16Case({{8, 16, 6, 5}, true, true, 0.1});
  CheckBf16Case({{4, 7, 5, 3}, true, true, 0.1});  // the vector tail
  CheckBf16Case({{4, 13, 3, 3}, false, true, 0.0});
  CheckBf16Case({{4, 16, 3, 3}, true, false, 0.3});
  CheckBf16Case({{33, 12}, false, true, 0.1});
  CheckBf16Case({{16, 8, 32, 32}, true, true, 0.1});  // several parallel chunks
}

HEXA_TEST(batch_norm_act, bfloat16_stores_round_as_c10_bit_for_bit) {
  // The output pass y = x·a + b with x exactly 1, 2 or 1/2 and b = 0: y is a (times a power of
  // two) exactly in float32, and its bfloat16 must be c10's round to nearest even of it, bit for
  // bit: ties both ways, just off a tie, overflow to infinity, infinity and NaNs. Nine channels:
  // eight go through the 4-wide vector path, the ninth through the scalar one, and the reversed
  // order puts the other end of the list there.
  const std::vector<uint32_t> bits = {0x3F808000u, 0x3F818000u, 0x3F808001u, 0x3F807FFFu, 0xBF818000u,
                                      0x7F7FFFFFu, 0x7F800000u, 0x7FC00001u, 0x7F800001u};
  for (bool reversed : {false, true}) {
    std::vector<float> a(bits.size());
    for (size_t c = 0; c < bits.size(); ++c) {
      const uint32_t u = bits[reversed ? bits.size() - 1 - c : c];
      std::memcpy(&a[c], &u, sizeof u);
    }
    const int64_t channels = static_cast<int64_t>(a.size()), rows = 3;
    const std::vector<float> zero(channels, 0.0f), scales = {1.0f, 2.0f, 0.5f};
    std::vector<c10::BFloat16> x(rows * channels), out(rows * channels), expected(rows * channels);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < channels; ++c) {
        x[r * channels + c] = c10::BFloat16(scales[r]);
        expected[r * channels + c] = c10::BFloat16(scales[r] * a[c]);
      }
    }
    hexa::kernels::detail::batchNormActApplyCpu<c10::BFloat16>(x.data(), nullptr, out.data(), rows, channels, a.data(), zero.data(),
                                                false);
    for (int64_t i = 0; i < rows * channels; ++i) EXPECT(out[i].x == expected[i].x);
  }
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
  // bfloat16 activations, with a residual of their own dtype only (a float32 one: ATen's path).
  const at::Tensor half = nhwc.to(at::kBFloat16);
  EXPECT(batchNormActSupported(half));
  EXPECT(batchNormActSupported(half, half));
  EXPECT(!batchNormActSupported(half, nhwc));
  EXPECT(!batchNormActSupported(nhwc, half));
  EXPECT(!batchNormActSupported(nhwc.to(at::kHalf)));
  EXPECT_THROWS_WITH(batchNormActForward(at::randn({4, 3, 5, 5}), at::ones({3}), at::zeros({3}), std::nullopt, true,
                                         1e-5, at::Tensor(), at::Tensor(), 0.1),
                     "batchNormAct: x must be a float32 or bfloat16 CPU tensor");
  const at::Tensor x = at::randn({4, 3, 5, 5}).contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT_THROWS_WITH(batchNormActForward(x, at::ones({4}), at::zeros({3}), std::nullopt, true, 1e-5, at::Tensor(),
                                         at::Tensor(), 0.1),
                     "batchNormAct: weight must be a contiguous float32 CPU tensor of 3 values");
  EXPECT_THROWS_WITH(batchNormActForward(x, at::ones({3}), at::zeros({3}), at::randn({4, 3, 5, 4}), true, 1e-5,
                                         at::Tensor(), at::Tensor(), 0.1),
                     "batchNormAct: residual must be a float32 or bfloat16 CPU tensor of x's shape");
}
