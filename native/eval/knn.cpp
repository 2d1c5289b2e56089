#include "eval/knn.h"

#include <algorithm>

namespace hexa::eval {

at::Tensor KnnPredict(const at::Tensor& bank, const at::Tensor& bankLabels, const at::Tensor& queries, const KnnOptions& o) {
  TORCH_CHECK(bank.dim() == 2 && queries.dim() == 2 && bank.size(1) == queries.size(1), "knnPredict: bank [M, D] and queries [N, D] must share D, got ",
              bank.sizes(), " and ", queries.sizes());
  TORCH_CHECK(bankLabels.dim() == 1 && bankLabels.size(0) == bank.size(0), "knnPredict: bankLabels must be [M]");
  TORCH_CHECK(bank.size(0) >= 1, "knnPredict: the bank is empty");
  const int64_t k = std::min(o.k, bank.size(0));
  auto unit = [](const at::Tensor& x) { return x / x.norm(2, {1}, true).clamp_min(1e-12); };
  const at::Tensor b = unit(bank.to(at::kFloat)), q = unit(queries.to(b.device(), at::kFloat));
  // A private copy (checked, then used): another op writing bankLabels meanwhile cannot change
  // what was checked.
  const at::Tensor labels = bankLabels.to(b.device(), at::kLong, /*non_blocking=*/false, /*copy=*/true);
  TORCH_CHECK(labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < o.classes,
              "knnPredict: bankLabels must lie in [0, classes)");
  std::vector<at::Tensor> out;
  for (int64_t start = 0; start < q.size(0); start += o.chunk) {
    at::Tensor sim = at::mm(q.narrow(0, start, std::min(o.chunk, q.size(0) - start)), b.t());
    auto [values, index] = sim.topk(k, 1);
    at::Tensor votes = at::zeros({sim.size(0), o.classes}, sim.options());
    votes.scatter_add_(1, labels.index_select(0, index.reshape(-1)).view(index.sizes()), (values / o.temperature).exp());
    out.push_back(votes.argmax(1));
  }
  return at::cat(out);
}

}  // namespace hexa::eval
