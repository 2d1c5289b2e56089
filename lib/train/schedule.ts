// Learning-rate schedules, pure functions of the step (so a resumed run recomputes them).

/**
 * Linear warmup from 0 over `warmupSteps`, then cosine decay from `baseLr` to `finalLr` at
 * `totalSteps` (MoCo v2's cosine schedule, swav's final_lr; per step rather than per epoch).
 */
export function cosineWithWarmup(step: number, totalSteps: number, baseLr: number, warmupSteps = 0, finalLr = 0): number {
  if (!(totalSteps > 0)) throw new RangeError(`cosineWithWarmup: totalSteps must be > 0, got ${totalSteps}`);
  if (step < warmupSteps) return (baseLr * (step + 1)) / warmupSteps;
  const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
  return finalLr + 0.5 * (baseLr - finalLr) * (1 + Math.cos(Math.PI * progress));
}
