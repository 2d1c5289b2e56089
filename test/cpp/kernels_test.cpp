// The fused kernels of native/kernels/ against ATen compositions of their definitions (the
// formulas in each kernel's header), in float64 where precision matters, on the CPU. The
// TypeScript tests check the same kernels through the addon against PyTorch; these run
// without Node, under ASan/UBSan (scripts/sanitize.sh).
#include <ATen/ATen.h>
#include <torch/torch.h>

#include "harness/harness.h"
#include "kernels/cluster_ce.h"
#include "kernels/cutmix.h"
#include "kernels/enqueue.h"
#include "kernels/info_nce.h"
#include "kernels/kmeans.h"
#include "kernels/momentum.h"
#include "kernels/pgd.h"
#include "kernels/softmax_ce_rows.h"

using namespace hexa::kernels;

namespace {

at::Generator Gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

at::Tensor Randn(at::IntArrayRef shape, uint64_t seed, at::ScalarType dtype = at::kDouble) {
  return at::randn(shape, Gen(seed), at::TensorOptions().dtype(dtype));
}

at::Tensor UnitRows(at::Tensor x) { return x / x.norm(2, {1}, true); }

// PGD's random start with the method's default radius for each norm.
PgdInitOptions InitOptions(PgdNorm norm) {
  PgdInitOptions o;
  o.norm = norm;
  o.eps = norm == PgdNorm::Linf ? 8.0 / 255 : 0.25;
  return o;
}

// Per sample L2 norm over all non-batch dims, shaped to broadcast against x.
at::Tensor SampleNorm(const at::Tensor& x) {
  return x.flatten(1).norm(2, {1}).view({x.size(0), 1, 1, 1});
}

}  // namespace

HEXA_TEST(pgd, linf_step_is_clamp_of_clamp_of_signed_step) {
  const at::Tensor clean = at::rand({3, 2, 4, 4}, Gen(1), at::kDouble);
  const at::Tensor adv = (clean + 0.02 * Randn({3, 2, 4, 4}, 2)).clamp(0, 1);
  const at::Tensor grad = Randn({3, 2, 4, 4}, 3);
  PgdStepOptions o;
  o.eps = 0.03;
  o.stepSize = 0.01;
  at::Tensor out = at::empty_like(clean);
  pgdStep(adv, clean, grad, out, o);
  const at::Tensor expected = at::clamp(at::min(at::max(adv + o.stepSize * grad.sign(), clean - o.eps), clean + o.eps), 0, 1);
  EXPECT_CLOSE(out, expected, 0, 1e-15);
  // In place into xAdv: every element is read before it is written.
  at::Tensor inplace = adv.clone();
  pgdStep(inplace, clean, grad, inplace, o);
  EXPECT_EQUAL_TENSORS(inplace, out);
}

HEXA_TEST(pgd, l2_step_projects_each_sample_into_the_ball) {
  const at::Tensor clean = at::rand({4, 3, 5, 5}, Gen(4), at::kDouble);
  const at::Tensor adv = (clean + 0.05 * Randn({4, 3, 5, 5}, 5)).clamp(0, 1);
  at::Tensor grad = Randn({4, 3, 5, 5}, 6);
  grad[1].zero_();  // a zero gradient: the 1e-12 floor, no NaN
  PgdStepOptions o;
  o.norm = PgdNorm::L2;
  o.eps = 0.5;
  o.stepSize = 0.3;
  at::Tensor out = at::empty_like(clean);
  pgdStep(adv, clean, grad, out, o);
  const at::Tensor x = adv + o.stepSize * grad / at::clamp_min(SampleNorm(grad), kPgdNormFloor);
  const at::Tensor delta = x - clean;
  const at::Tensor dn = SampleNorm(delta);
  const at::Tensor factor = at::where(dn > o.eps, o.eps / dn, at::ones_like(dn));
  EXPECT_CLOSE(out, at::clamp(clean + delta * factor, 0, 1), 1e-12, 1e-12);
}

HEXA_TEST(pgd, init_stays_in_the_ball_and_is_reproducible) {
  const at::Tensor clean = at::rand({5, 3, 4, 4}, Gen(7), at::kFloat);
  for (PgdNorm norm : {PgdNorm::Linf, PgdNorm::L2}) {
    const PgdInitOptions o = InitOptions(norm);
    at::Tensor a = at::empty_like(clean), b = at::empty_like(clean);
    pgdInit(clean, a, o, Gen(11));
    pgdInit(clean, b, o, Gen(11));
    EXPECT_EQUAL_TENSORS(a, b);
    EXPECT(a.min().item<double>() >= 0 && a.max().item<double>() <= 1);
    const at::Tensor d = (a - clean).to(at::kDouble);
    const double dist = norm == PgdNorm::Linf ? d.abs().max().item<double>() : SampleNorm(d).max().item<double>();
    EXPECT(dist <= o.eps + 1e-6);  // float32 rounding of clean + δ
    EXPECT(dist > 0);  // a start, not the clean image
  }
}

HEXA_TEST(cutmix, pastes_each_partner_box_as_a_slice_assignment_does) {
  const int64_t n = 6, h = 7, w = 5;
  const CutmixSample s = sampleCutmix(n, h, w, 1.0, Gen(3));
  EXPECT_EQUAL_TENSORS(std::get<0>(s.perm.sort()), at::arange(n, at::kLong));
  const at::Tensor x = at::rand({n, 3, h, w}, Gen(8), at::kFloat);
  at::Tensor expected = x.clone();
  for (int64_t i = 0; i < n; ++i) {
    const auto b = s.boxes[i];
    const int64_t y0 = b[0].item<int64_t>(), x0 = b[1].item<int64_t>(), y1 = b[2].item<int64_t>(), x1 = b[3].item<int64_t>();
    EXPECT(0 <= y0 && y0 <= y1 && y1 <= h && 0 <= x0 && x0 <= x1 && x1 <= w);
    EXPECT(std::abs(s.lambda[i].item<double>() - (1.0 - double((y1 - y0) * (x1 - x0)) / (h * w))) < 1e-12);
    const int64_t p = s.perm[i].item<int64_t>();
    expected[i].slice(1, y0, y1).slice(2, x0, x1).copy_(x[p].slice(1, y0, y1).slice(2, x0, x1));
  }
  at::Tensor out = at::empty_like(x);
  cutmix(x, s.perm, s.boxes, out);
  EXPECT_EQUAL_TENSORS(out, expected);
  at::Tensor inplace = x.clone();
  cutmix(inplace, s.perm, s.boxes, inplace);
  EXPECT_EQUAL_TENSORS(inplace, expected);
}

HEXA_TEST(cutmix, refuses_a_perm_that_is_not_a_permutation) {
  const at::Tensor x = at::rand({3, 1, 4, 4}, Gen(9));
  const at::Tensor boxes = at::zeros({3, 4}, at::kLong);
  at::Tensor out = at::empty_like(x);
  EXPECT_THROWS_WITH(cutmix(x, at::tensor({0, 0, 1}, at::kLong), boxes, out), "appears twice");
  EXPECT_THROWS_WITH(cutmix(x, at::tensor({0, 3, 1}, at::kLong), boxes, out), "perm must be a permutation of 0..2");
  EXPECT_THROWS_WITH(cutmix(x, at::tensor({0, 1, 2}, at::kLong), at::tensor({0, 0, 5, 1}, at::kLong).repeat({3, 1}), out),
                     "boxes[0] = (0, 0, 5, 1) must satisfy 0 <= y0 <= y1 <= 4 and 0 <= x0 <= x1 <= 4");
}

HEXA_TEST(cutmix, targets_put_lambda_on_self_and_the_rest_on_the_partner) {
  const at::Tensor lambda = at::tensor({0.25, 1.0, 0.5}, at::kDouble);
  const at::Tensor perm = at::tensor({2, 1, 0}, at::kLong);
  const at::Tensor t = cutmixTargets(lambda, perm, 5, std::nullopt);
  at::Tensor expected = at::zeros({3, 5}, at::kDouble);
  for (int64_t i = 0; i < 3; ++i) {
    expected[i][i] += lambda[i];
    expected[i][perm[i].item<int64_t>()] += 1 - lambda[i];
  }
  EXPECT_EQUAL_TENSORS(t, expected);
}

namespace {
// InfoNCE's definition, autograd in float64: loss and d loss / d q.
std::pair<at::Tensor, at::Tensor> InfoNceReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& queue,
                                                   double tau, const std::optional<at::Tensor>& soft) {
  at::Tensor q64 = q.to(at::kDouble).detach().requires_grad_(true);
  const at::Tensor k64 = k.to(at::kDouble), queue64 = queue.to(at::kDouble);
  at::Tensor loss;
  if (soft) {
    const at::Tensor logits = at::cat({q64.mm(k64.t()), q64.mm(queue64.t())}, 1) / tau;
    loss = -(soft->to(at::kDouble) * at::log_softmax(logits, 1)).sum(1).mean();
  } else {
    const at::Tensor logits = at::cat({(q64 * k64).sum(1, true), q64.mm(queue64.t())}, 1) / tau;
    loss = -at::log_softmax(logits, 1).select(1, 0).mean();
  }
  loss.backward();
  return {loss.detach(), q64.grad()};
}
}  // namespace

HEXA_TEST(info_nce, forward_and_backward_match_the_definition) {
  torch::NoGradGuard no_grad;
  const double tau = 0.2;
  for (at::ScalarType dtype : {at::kFloat, at::kDouble}) {
    const double tol = dtype == at::kFloat ? 2e-5 : 1e-11;
    const at::Tensor q = UnitRows(Randn({6, 8}, 20, dtype)), k = UnitRows(Randn({6, 8}, 21, dtype));
    const at::Tensor queue = UnitRows(Randn({10, 8}, 22, dtype));
    InfoNCEOptions o;
    o.temperature = tau;
    const InfoNCEForward f = info_nce_forward(q, k, queue, o);
    const at::Tensor gradQ = info_nce_backward(f.grad_logits, k, queue, tau, false, at::ones({}, q.options()));
    at::Tensor refLoss, refGrad;
    {
      at::AutoGradMode grad(true);
      std::tie(refLoss, refGrad) = InfoNceReference(q, k, queue, tau, std::nullopt);
    }
    EXPECT_CLOSE(f.loss, refLoss, tol, tol);
    EXPECT_CLOSE(gradQ, refGrad, tol, tol);
    // Soft targets (CutMix): rows of [N, N+K] summing to 1.
    const at::Tensor soft = at::softmax(Randn({6, 16}, 23), 1).to(dtype);
    o.targets = soft;
    const InfoNCEForward fs = info_nce_forward(q, k, queue, o);
    const at::Tensor gradS = info_nce_backward(fs.grad_logits, k, queue, tau, true, at::ones({}, q.options()));
    {
      at::AutoGradMode grad(true);
      std::tie(refLoss, refGrad) = InfoNceReference(q, k, queue, tau, soft);
    }
    EXPECT_CLOSE(fs.loss, refLoss, tol, tol);
    EXPECT_CLOSE(gradS, refGrad, tol, tol);
  }
}

HEXA_TEST(softmax_ce_rows, row_losses_and_gradients_match_log_softmax) {
  const double scale = 1.0 / 0.3;
  const at::Tensor logits = Randn({5, 7}, 30);
  const at::Tensor classes = at::tensor({0, 6, 3, 3, 1}, at::kLong);
  const at::Tensor z = logits * scale;
  const at::Tensor logp = at::log_softmax(z, 1);
  {
    at::Tensor buffer = logits.clone();
    RowTargets t;
    t.classes = classes;
    const RowPassResult r = softmax_ce_rows_(buffer, scale, t);
    EXPECT_CLOSE(r.row_loss, -logp.gather(1, classes.unsqueeze(1)).squeeze(1), 1e-12, 1e-12);
    EXPECT_EQUAL_TENSORS(r.row_correct, z.argmax(1).eq(classes).to(at::kByte));
    EXPECT_CLOSE(buffer, at::softmax(z, 1) - at::one_hot(classes, 7).to(at::kDouble), 1e-12, 1e-12);
  }
  {
    // Soft rows that do not sum to 1, in a buffer whose rows are a slice of a wider one.
    at::Tensor wide = at::zeros({5, 9}, at::kDouble);
    wide.slice(1, 0, 7).copy_(logits);
    at::Tensor buffer = wide.slice(1, 0, 7);
    const at::Tensor soft = at::rand({5, 7}, Gen(31), at::kDouble);
    RowTargets t;
    t.soft = soft;
    const RowPassResult r = softmax_ce_rows_(buffer, scale, t);
    EXPECT_CLOSE(r.row_loss, -(soft * logp).sum(1), 1e-12, 1e-12);
    EXPECT_CLOSE(buffer, soft.sum(1, true) * at::softmax(z, 1) - soft, 1e-12, 1e-12);
    EXPECT_EQUAL_TENSORS(wide.slice(1, 7, 9), at::zeros({5, 2}, at::kDouble));  // untouched beyond the view
  }
}

HEXA_TEST(cluster_ce, loss_and_gradient_match_cross_entropy_and_bad_targets_are_refused) {
  torch::NoGradGuard no_grad;
  const double tau = 0.1;
  const at::Tensor z = UnitRows(Randn({6, 4}, 40)), prototypes = UnitRows(Randn({5, 4}, 41));
  const at::Tensor targets = at::tensor({4, 0, 2, 2, 1, 3}, at::kLong);
  ClusterCEOptions o;
  o.temperature = tau;
  const ClusterCEForward f = cluster_ce_forward(z, prototypes, targets, o);
  const at::Tensor grad = cluster_ce_backward(f.grad_logits, prototypes, tau, at::ones({}, z.options()));
  at::AutoGradMode on(true);
  at::Tensor zr = z.clone().requires_grad_(true);
  const at::Tensor ref = at::cross_entropy_loss(zr.mm(prototypes.t()) / tau, targets);
  ref.backward();
  EXPECT_CLOSE(f.loss, ref.detach(), 1e-12, 1e-12);
  EXPECT_CLOSE(grad, zr.grad(), 1e-12, 1e-12);
  EXPECT_THROWS_WITH(cluster_ce_forward(z, prototypes, at::tensor({0, 1, 2, 5, 0, 0}, at::kLong), o),
                    "cluster_ce: targets must be in [0, 5");
  EXPECT_THROWS_WITH(cluster_ce_forward(z, prototypes, at::tensor({0, 1, 2, -1, 0, 0}, at::kLong), o),
                    "cluster_ce: targets must be in [0, 5");
}

HEXA_TEST(momentum, update_is_the_ema_and_copy_buffers_copies) {
  // Contiguous pairs, pairs laid out alike (a transpose; channels-last filters, over one
  // 64Ki-element chunk) and a pair laid out differently (through ATen).
  const auto cl = at::MemoryFormat::ChannelsLast;
  std::vector<at::Tensor> targets = {Randn({3, 4}, 50), Randn({70000}, 51, at::kFloat), Randn({2, 2}, 52).t(),
                                     Randn({130, 64, 3, 3}, 56, at::kFloat).contiguous(cl),
                                     Randn({5, 3, 2, 2}, 58).contiguous(cl)};
  const std::vector<at::Tensor> sources = {Randn({3, 4}, 53), Randn({70000}, 54, at::kFloat), Randn({2, 2}, 55).t(),
                                           Randn({130, 64, 3, 3}, 57, at::kFloat).contiguous(cl),
                                           Randn({5, 3, 2, 2}, 59)};
  std::vector<at::Tensor> expected;
  const double m = 0.99;
  for (size_t i = 0; i < targets.size(); ++i) expected.push_back(m * targets[i] + (1 - m) * sources[i]);
  momentumUpdate(targets, sources, m);
  for (size_t i = 0; i < targets.size(); ++i) {
    const double tol = targets[i].scalar_type() == at::kFloat ? 1e-6 : 1e-15;
    EXPECT_CLOSE(targets[i], expected[i], tol, tol);
  }
  copyBuffers(targets, sources);
  for (size_t i = 0; i < targets.size(); ++i) EXPECT_EQUAL_TENSORS(targets[i], sources[i]);
  std::vector<at::Tensor> wrongShape = {at::zeros({2})};
  EXPECT_THROWS_WITH(momentumUpdate(wrongShape, {at::zeros({3})}, m),
                     "momentumUpdate: target[0] and source[0] must match in shape, dtype and device");
}

HEXA_TEST(kmeans, assignment_is_the_argmax_of_cosine_scores_in_any_chunking) {
  const at::Tensor x = UnitRows(Randn({23, 6}, 60)), centroids = UnitRows(Randn({5, 6}, 61));
  const at::Tensor scores = x.mm(centroids.t());
  for (int64_t chunk : {0, 1, 4, 100}) {
    at::Tensor index = at::empty({23}, at::kLong), score = at::empty({23}, at::kDouble);
    kmeans_assign_out(x, centroids, chunk, index, score);
    EXPECT_EQUAL_TENSORS(index, scores.argmax(1));
    EXPECT_CLOSE(score, std::get<0>(scores.max(1)), 1e-14, 1e-14);
  }
}

HEXA_TEST(kmeans, update_normalises_member_sums_and_keeps_empty_clusters) {
  const at::Tensor x = UnitRows(Randn({10, 3}, 62)), previous = UnitRows(Randn({4, 3}, 63));
  const at::Tensor assignment = at::tensor({0, 2, 2, 0, 1, 1, 1, 0, 2, 2}, at::kLong);  // cluster 3 empty
  at::Tensor centroids = at::empty({4, 3}, at::kDouble), counts = at::empty({4}, at::kLong);
  kmeans_update_centroids_out(x, assignment, 4, previous, centroids, counts);
  at::Tensor expected = previous.clone();
  for (int64_t c = 0; c < 3; ++c) {
    const at::Tensor sum = x.index({assignment.eq(c)}).sum(0);
    expected[c].copy_(sum / sum.norm());
  }
  EXPECT_CLOSE(centroids, expected, 1e-14, 1e-14);
  EXPECT_EQUAL_TENSORS(counts, at::tensor({3, 3, 4, 0}, at::kLong));
  // In place (centroids = previous), and assignments out of range refused before any write.
  at::Tensor inplace = previous.clone();
  kmeans_update_centroids_out(x, assignment, 4, inplace, inplace, counts);
  EXPECT_CLOSE(inplace, expected, 1e-14, 1e-14);
  at::Tensor untouched = previous.clone();
  EXPECT_THROWS_WITH(kmeans_update_centroids_out(x, assignment.clone().index_fill_(0, at::tensor({3}, at::kLong), 4), 4, previous,
                                                untouched, counts),
                    "kmeans_update_centroids: assignment must be in [0, 4");
  EXPECT_EQUAL_TENSORS(untouched, previous);
}

HEXA_TEST(enqueue, writes_the_ring_buffer_with_wraparound) {
  at::Tensor queue = at::zeros({5, 2}, at::kFloat);
  const at::Tensor keys = at::arange(6, at::kFloat).view({3, 2}) + 1;
  EXPECT(enqueue(queue, keys, 4) == 2);
  const at::Tensor expected = at::tensor({3.f, 4.f, 5.f, 6.f, 0.f, 0.f, 0.f, 0.f, 1.f, 2.f}).view({5, 2});
  EXPECT_EQUAL_TENSORS(queue, expected);
  EXPECT_THROWS_WITH(enqueue(queue, at::zeros({6, 2}), 0), "enqueue: keys has 6 rows but the queue only 5");
}

// The graph-safe entries of a CUDA-graph step (MocoTrainer's static mode) against the checked
// ones they stand in for: the same values, bit for bit.
HEXA_TEST(graph_safe, pgd_init_noise_is_the_delta_pgd_init_adds) {
  const at::Tensor clean = at::rand({4, 3, 5, 5}, Gen(12), at::kFloat);
  for (PgdNorm norm : {PgdNorm::Linf, PgdNorm::L2}) {
    const PgdInitOptions o = InitOptions(norm);
    at::Tensor viaInit = at::empty_like(clean);
    pgdInit(clean, viaInit, o, Gen(13));
    const at::Tensor noise = pgdInitNoise(clean.sizes(), o, Gen(13));
    EXPECT(noise.scalar_type() == at::kDouble && noise.sizes() == clean.sizes());
    EXPECT_EQUAL_TENSORS((clean + noise.to(at::kFloat)).clamp(0, 1), viaInit);
  }
}

HEXA_TEST(graph_safe, unchecked_cutmix_and_targets_equal_the_checked_ones) {
  const int64_t n = 7, h = 9, w = 6;
  const CutmixSample s = sampleCutmix(n, h, w, 1.0, Gen(14));
  const at::Tensor x = at::rand({n, 3, h, w}, Gen(15), at::kFloat);
  at::Tensor checked = at::empty_like(x), unchecked = at::empty_like(x);
  cutmix(x, s.perm, s.boxes, checked);
  hexa::kernels::detail::cutmixUnchecked(x, s.perm, s.boxes, unchecked);
  EXPECT_EQUAL_TENSORS(unchecked, checked);
  EXPECT_EQUAL_TENSORS(hexa::kernels::detail::cutmixTargetsUnchecked(s.lambda, s.perm, n + 4),
                       cutmixTargets(s.lambda, s.perm, n + 4, std::nullopt));
  EXPECT_THROWS_WITH(hexa::kernels::detail::cutmixUnchecked(x, s.perm, s.boxes, x), "must not overlap");
}

HEXA_TEST(graph_safe, enqueue_at_a_device_pointer_equals_enqueue) {
  for (int64_t start : {0, 3, 4}) {
    at::Tensor a = at::zeros({5, 2}, at::kFloat), b = at::zeros({5, 2}, at::kFloat);
    const at::Tensor keys = at::arange(6, at::kFloat).view({3, 2}) + 1;
    at::Tensor ptr = at::full({}, start, at::kLong);
    const int64_t next = enqueue(a, keys, start);
    enqueueAt(b, keys, ptr);
    EXPECT_EQUAL_TENSORS(b, a);
    EXPECT(ptr.item<int64_t>() == next);
  }
}
