// Learning-rate schedules, pure functions of the step (so a resumed run recomputes them).

/**
 * Linear warmup from 0 over `warmupSteps`, then cosine decay from `baseLr` to 0 at `totalSteps`
 * (MoCo v2's cosine schedule, per step rather than per epoch).
 */
export function cosineWithWarmup(step: number, totalSteps: number, baseLr: number, warmupSteps = 0): number {
  if (!(totalSteps > 0)) throw new RangeError(`cosineWithWarmup: totalSteps must be > 0, got ${totalSteps}`);
  if (step < warmupSteps) return (baseLr * (step + 1)) / warmupSteps;
  const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
  return 0.5 * baseLr * (1 + Math.cos(Math.PI * progress));
}
