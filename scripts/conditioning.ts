// How far one training step of the CUDA differential tests' small runs moves when the weights it
// starts from move by a little: two trainers on one device in lockstep (test/support/lockstep.ts),
// the second loading the first's state with its weights multiplied by (1 + u·2·rel), u uniform in
// [-0.5, 0.5). Per run and rel: the worst step (its state difference and loss difference) and the
// median step. Two implementations that round differently (the CPU and CUDA, a CUDA graph and
// the default step) cannot be asked to agree closer than this; the tests' bounds are set
// against it (docs/training.md, "Comparing runs").
//   npx tsx scripts/conditioning.ts [cpu|cuda] [rel,...]      (default: cpu 1e-7,1e-6; ~1 min)
import { cuda, Generator } from '../lib/index.js';
import { lockstep, perturbed, type LockStep } from '../test/support/lockstep.js';
import {
  ATTACK_STEP_0, dclusterBankPass, dclusterLockSteps, MOCO_SCHEDULE_21, mocoLockSteps, smallDcluster, smallMoco,
} from '../test/support/small-runs.js';
import type { TrainerModel } from '../lib/train/model.js';

const device = (process.argv[2] ?? 'cpu') as 'cpu' | 'cuda';
const rels = (process.argv[3] ?? '1e-7,1e-6').split(',').map(Number);
if (device !== 'cpu' && device !== 'cuda') throw new Error(`conditioning.ts: device must be cpu or cuda, got '${device}'`);
if (rels.some((r) => !(r > 0 && r < 1))) throw new Error(`conditioning.ts: each rel must be in (0, 1), got ${process.argv[3]}`);
if (device === 'cuda' && !cuda.isAvailable()) throw new Error('conditioning.ts: no CUDA device');
if (device === 'cuda') {
  // As the CUDA tests run: full float32, deterministic cuDNN.
  cuda.setAllowTF32(false);
  cuda.setCudnnDeterministic(true);
}

const SEEDS = [7, 8, 9]; // three perturbations per rel: jumps are hit or missed by chance

async function probe(name: string, prefix: string, make: () => Promise<{ a: TrainerModel; b: TrainerModel; steps: () => LockStep[] }>) {
  for (const rel of rels) {
    let state = 0, whole = 0, losses = 0, at = '';
    const medians: number[] = [];
    for (const seed of SEEDS) {
      const { a, b, steps } = await make();
      const pg = new Generator(seed);
      const r = await lockstep({ model: a, device }, { model: b, device }, steps(), { perturb: (s) => perturbed(s, rel, prefix, pg) });
      const sorted = r.steps.map((s) => s.state).sort((x, y) => x - y);
      medians.push(sorted[sorted.length >> 1]);
      const worst = r.steps.reduce((w, s, i) => (s.state > r.steps[w].state ? i : w), 0);
      if (r.steps[worst].state > state) [state, at] = [r.steps[worst].state, `step ${worst} of ${r.steps.length}, ${r.steps[worst].name}`];
      whole = Math.max(whole, r.worstWhole);
      losses = Math.max(losses, r.worstLosses);
      a.dispose();
      b.dispose();
    }
    console.log(`${name}, weights x (1 + ${rel.toExponential(0)} u), worst of ${SEEDS.length}: losses ${losses.toExponential(1)}, whole state ${whole.toExponential(1)}, ` +
      `one tensor ${state.toExponential(1)} (${at}); median step's worst tensor ${Math.max(...medians).toExponential(1)}`);
  }
}

console.log(`== one step from a perturbed state, ${device} (test/support/small-runs.ts)`);
for (const method of ['hexa-moco', 'moco'] as const) {
  await probe(`${method} (CUDA graph test: 6 images, 21 steps)`, 'query.', async () => ({
    a: await smallMoco(method, device), b: await smallMoco(method, device), steps: () => mocoLockSteps(MOCO_SCHEDULE_21),
  }));
}
await probe('hexa-moco (MoCo step CUDA test: 6 images, attack step 0, 8 steps)', 'query.', async () => ({
  a: await smallMoco('hexa-moco', device, {}, ATTACK_STEP_0), b: await smallMoco('hexa-moco', device, {}, ATTACK_STEP_0),
  steps: () => mocoLockSteps(MOCO_SCHEDULE_21.slice(0, 8)),
}));
for (const [method, optimizer] of [['hexa-dcluster', 'sgd'], ['dcluster', 'lars']] as const) {
  await probe(`${method} + ${optimizer} (DeepCluster CUDA test: 16 images, attack step 0, 3 steps)`, 'model.', async () => {
    const a = await smallDcluster(method, optimizer, device, ATTACK_STEP_0), b = await smallDcluster(method, optimizer, device, ATTACK_STEP_0);
    const g = new Generator(11);
    await dclusterBankPass([{ model: a, device }, { model: b, device }], g);
    return { a, b, steps: () => dclusterLockSteps(method, g, 3) };
  });
}
