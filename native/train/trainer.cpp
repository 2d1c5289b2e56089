#include "train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>

namespace hexa::train {

Trainer::Trainer(uint64_t seed)
    : generator_(at::make_generator<at::CPUGeneratorImpl>(seed + 1)),
      augmentGenerator_(at::make_generator<at::CPUGeneratorImpl>(seed + 2)) {}

StateDict Trainer::state() {
  StateDict out;
  saveMethodState(out);
  SaveGenerator(generator_, "generator_state", out);
  SaveGenerator(augmentGenerator_, "augment_generator_state", out);
  return out;
}

void Trainer::loadState(const StateDict& state) {
  loadMethodState(state);
  LoadGenerator(generator_, "generator_state", state);
  LoadGenerator(augmentGenerator_, "augment_generator_state", state);
}

}  // namespace hexa::train
