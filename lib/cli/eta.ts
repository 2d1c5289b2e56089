// The progress line's ETA for runs whose phases run at different speeds: HEXA runs train
// plain steps before hardViewStartEpoch and hard-view steps (PGD + CutMix, ~2.5x the cost)
// after. Each phase's seconds per step is measured once it has run; a phase not reached yet
// is estimated from the measured one with HARD_VIEW_COST_PRIOR.
import type { StepLog } from '../train/run.js';

/** A hard-view step's cost relative to a plain step before any was measured (docs/training.md: ~2.5x). */
export const HARD_VIEW_COST_PRIOR = 2.5;

interface Phase {
  steps: number;
  seconds: number;
}

export class PhaseEta {
  private plain: Phase = { steps: 0, seconds: 0 };
  private hard: Phase = { steps: 0, seconds: 0 };
  private last: { elapsed: number; step: number } | null = null;

  /** `hardViewStartEpoch`: the first epoch with hard views (Infinity when the method has none). */
  constructor(private readonly hardViewStartEpoch: number) {}

  /** Records a step; returns the estimated seconds left in the run. */
  update(l: StepLog): number {
    const hardNow = l.epoch >= this.hardViewStartEpoch;
    if (this.last && l.globalStep > this.last.step) {
      const p = hardNow ? this.hard : this.plain;
      p.steps += l.globalStep - this.last.step;
      p.seconds += l.elapsedSeconds - this.last.elapsed;
    }
    this.last = { elapsed: l.elapsedSeconds, step: l.globalStep };
    const firstHard = Math.min(l.totalSteps, Math.max(0, this.hardViewStartEpoch * l.stepsPerEpoch));
    const done = l.globalStep + 1;
    const plainLeft = Math.max(0, firstHard - done);
    const hardLeft = l.totalSteps - Math.max(done, firstHard);
    const rate = (p: Phase) => (p.steps > 0 ? p.seconds / p.steps : NaN);
    let plainRate = rate(this.plain);
    let hardRate = rate(this.hard);
    if (Number.isNaN(plainRate) && Number.isNaN(hardRate)) {
      // The first step: only its own time is known.
      const first = l.elapsedSeconds / Math.max(1, done);
      if (hardNow) hardRate = first;
      else plainRate = first;
    }
    if (Number.isNaN(hardRate)) hardRate = plainRate * HARD_VIEW_COST_PRIOR;
    if (Number.isNaN(plainRate)) plainRate = hardRate / HARD_VIEW_COST_PRIOR;
    return plainLeft * plainRate + hardLeft * hardRate;
  }
}
