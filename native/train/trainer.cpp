#include "train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

namespace hexa::train {

namespace {
// Rank r > 0's own stream, derived from the shared state: a draw of the stream mixed with the
// rank (SplitMix64's finaliser), so a resumed run forks the same way at any world size.
void ForkForRank(at::Generator& gen, int rank) {
  if (rank == 0) return;
  std::lock_guard<std::mutex> lock(gen.mutex());
  uint64_t z = at::check_generator<at::CPUGeneratorImpl>(gen)->random64() + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(rank);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  gen.set_current_seed(z ^ (z >> 31));
}
}  // namespace

Trainer::Trainer(uint64_t seed)
    : generator_(at::make_generator<at::CPUGeneratorImpl>(seed + 1)),
      augmentGenerator_(at::make_generator<at::CPUGeneratorImpl>(seed + 2)) {}

StateDict Trainer::state() {
  StateDict out;
  saveMethodState(out);
  SaveGenerator(generator_, "generator_state", out);
  SaveGenerator(augmentGenerator_, "augment_generator_state", out);
  scaler_.save(out);
  return out;
}

void Trainer::loadState(const StateDict& state) {
  loadMethodState(state);
  LoadGenerator(generator_, "generator_state", state);
  LoadGenerator(augmentGenerator_, "augment_generator_state", state);
  scaler_.load(state);
  ForkForRank(generator_, comm_->rank());
  ForkForRank(augmentGenerator_, comm_->rank());
}

void Trainer::attach(std::shared_ptr<dist::Communicator> comm) {
  TORCH_CHECK(comm, "attach: no communicator");
  comm_ = std::move(comm);
  if (!comm_->distributed()) return;
  // Through the state dict: every tensor a checkpoint holds (weights, buffers, queue, bank,
  // generators) is rank 0's afterwards, and loadState() forks the generators.
  StateDict s = state();
  std::vector<at::Tensor> tensors;
  for (auto& [name, t] : s) {
    t = t.detach().clone().contiguous();
    tensors.push_back(t);
  }
  dist::BroadcastFromRankZero(*comm_, tensors);
  loadState(s);
}

}  // namespace hexa::train
