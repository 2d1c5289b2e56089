// kernels.infoNCE against PyTorch built from plain ops (cat + F.cross_entropy; soft CE as
// -(T * log_softmax).sum(1).mean(); gradients by autograd, gradcheck in float64), plus
// closed forms and argument errors.
import { describe, expect, it } from 'vitest';
import { cuda, type Device, type DType, Generator, kernels, type Tensor, tensor } from '../../lib/index.js';
import { maxRelError, torchReference } from '../support/torch-reference.js';
import { refOf, hasNaN, normwiseError, poisonedOn, seededUniform, tolerance, unitRows, type LossCase } from '../support/kernel-checks.js';

type Case = LossCase;
const CASES: Case[] = [
  { name: 'n1', n: 1, c: 3, k: 5, tau: 0.2 },
  { name: 'odd', n: 7, c: 13, k: 29, tau: 0.2 },
  { name: 'mid', n: 16, c: 128, k: 1000, tau: 0.07 },
  { name: 'wide', n: 5, c: 33, k: 4099, tau: 1 },
  { name: 'noqueue', n: 3, c: 4, k: 0, tau: 0.5 },
  { name: 'soft_n1', n: 1, c: 6, k: 11, tau: 0.2, soft: 'cutmix' },
  { name: 'soft_cutmix', n: 9, c: 17, k: 301, tau: 0.2, soft: 'cutmix' },
  { name: 'soft_dense', n: 6, c: 10, k: 37, tau: 0.3, soft: 'dense' },
];

/** CutMix targets: lambda on column i, 1 - lambda on column perm[i]; or dense non-negative rows (not summing to 1). */
function softTargets(kind: 'cutmix' | 'dense', n: number, k: number, seed: number): Float64Array {
  const u = seededUniform(seed);
  const m = n + k;
  const t = new Float64Array(n * m);
  if (kind === 'dense') {
    for (let i = 0; i < t.length; i++) t[i] = u();
    return t;
  }
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  for (let i = 0; i < n; i++) {
    const lambda = 0.55 + 0.4 * u();  // != 0.5: the target's argmax is unique
    t[i * m + i] += lambda;
    t[i * m + perm[i]] += 1 - lambda;
  }
  return t;
}

const REFERENCE = (cases: Case[]) => `
import torch.nn.functional as F
cases = json.loads('${JSON.stringify(cases)}')
for c in cases:
    nm, tau = c['name'], c['tau']
    q0, k, Q = inp[nm + '_q'], inp[nm + '_k'], inp[nm + '_queue']
    T = inp.get(nm + '_t')
    def loss_fn(q):
        if T is not None:
            logits = torch.cat([q @ k.t(), q @ Q.t()], 1) / tau
            return -(T * F.log_softmax(logits, 1)).sum(1).mean(), logits
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ Q.t()], 1) / tau
        return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long)), logits
    q = q0.clone().requires_grad_(True)
    loss, logits = loss_fn(q)
    loss.backward()
    out[nm + '_loss'] = loss
    out[nm + '_grad'] = q.grad
    target = T.argmax(1) if T is not None else torch.zeros(q.shape[0], dtype=torch.long)
    out[nm + '_acc'] = (logits.argmax(1) == target).double().mean()
    if q0.dtype == torch.float64 and q0.numel() <= 600:  # gradcheck perturbs every input: small cases only
        ok = torch.autograd.gradcheck(lambda x: loss_fn(x)[0], (q0.clone().requires_grad_(True),))
        out[nm + '_gradcheck'] = torch.tensor(float(ok))
`;

async function checkAgainstTorch(dtype: DType, device: Device): Promise<void> {
  const gen = new Generator(1234);
  const inputs: Record<string, Tensor> = {};
  for (const [ci, c] of CASES.entries()) {
    inputs[`${c.name}_q`] = await unitRows([c.n, c.c], dtype, gen, device);
    inputs[`${c.name}_k`] = await unitRows([c.n, c.c], dtype, gen, device);
    inputs[`${c.name}_queue`] = await unitRows([c.k, c.c], dtype, gen, device);
    if (c.soft) {
      const t = tensor(softTargets(c.soft, c.n, c.k, 77 + ci), [c.n, c.n + c.k], dtype);
      inputs[`${c.name}_t`] = device === 'cpu' ? t : await t.to(device);
    }
  }
  const refInputs = Object.fromEntries(await Promise.all(Object.entries(inputs).map(async ([k, t]) => [k, await refOf(t)])));
  const ref = torchReference(REFERENCE(CASES), refInputs);
  for (const c of CASES) {
    const q = inputs[`${c.name}_q`], k = inputs[`${c.name}_k`], queue = inputs[`${c.name}_queue`];
    const out = await poisonedOn([c.n, c.c], dtype, device);
    const r = await kernels.infoNCE(q, k, queue, { temperature: c.tau, targets: inputs[`${c.name}_t`], grad: true, out });
    expect(r.loss.shape).toEqual([]);
    expect(r.gradQ).toBe(out);
    const loss = await r.loss.data();
    const grad = await r.gradQ!.data();
    expect(hasNaN(grad), `${c.name}: gradQ fully written`).toBe(false);
    expect(maxRelError(loss, ref[`${c.name}_loss`].data), `${c.name} loss`).toBeLessThan(tolerance(dtype));
    expect(normwiseError(grad, ref[`${c.name}_grad`].data), `${c.name} gradQ`).toBeLessThan(tolerance(dtype));
    if (dtype === 'float64') {
      // Element-wise too, at 1e-6 relative (floor 1e-12 for exact zeros).
      expect(maxRelError(grad, ref[`${c.name}_grad`].data, 1e-12), `${c.name} gradQ elementwise`).toBeLessThan(1e-6);
      if (c.n * c.c <= 600) expect(ref[`${c.name}_gradcheck`].data[0], `${c.name}: gradcheck of the reference`).toBe(1);
    }
    expect(r.accuracy, `${c.name} accuracy`).toBeCloseTo(ref[`${c.name}_acc`].data[0], 12);
    // grad: false gives the same loss and no gradient.
    const fwdOnly = await kernels.infoNCE(q, k, queue, { temperature: c.tau, targets: inputs[`${c.name}_t`] });
    expect(fwdOnly.gradQ).toBeUndefined();
    expect(Array.from(await fwdOnly.loss.data())).toEqual(Array.from(loss));
  }
}

describe('kernels.infoNCE vs torch (cat + F.cross_entropy, autograd)', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`cpu ${dtype}: loss, gradQ, accuracy on odd shapes, N = 1, soft targets`, async () => {
      await checkAgainstTorch(dtype, 'cpu');
    });
    it.skipIf(!cuda.isAvailable())(`cuda ${dtype}: same cases (skipped when no CUDA device: needs a GPU)`, async () => {
      await checkAgainstTorch(dtype, 'cuda');
    });
  }
});

/** q = k spanning the first `half` dims, queue rows in the remaining dims (orthogonal to every q). */
async function orthogonalSetup(n: number, k: number, c: number, device: Device) {
  const gen = new Generator(99);
  const half = c / 2;
  const qs = await unitRows([n, half], 'float64', gen);
  const ks = await unitRows([k, c - half], 'float64', gen);
  const qd = (await qs.data()) as Float64Array, kd = (await ks.data()) as Float64Array;
  const q = new Float64Array(n * c), queue = new Float64Array(k * c);
  for (let i = 0; i < n; i++) for (let j = 0; j < half; j++) q[i * c + j] = qd[i * half + j];
  for (let i = 0; i < k; i++) for (let j = 0; j < c - half; j++) queue[i * c + half + j] = kd[i * (c - half) + j];
  const put = async (a: Float64Array, s: number[]) => (device === 'cpu' ? tensor(a, s) : tensor(a, s).to(device));
  return { q: await put(q, [n, c]), queue: await put(queue, [k, c]) };
}

async function closedForms(device: Device): Promise<void> {
  // (1) q = k (unit), queue orthogonal to every q: the positive logit is 1/tau, every
  // negative 0, so loss = -log(e^{1/tau} / (e^{1/tau} + K)) exactly.
  for (const [n, k, tau] of [[4, 7, 1], [1, 4096, 0.2], [9, 65, 0.07]] as const) {
    const { q, queue } = await orthogonalSetup(n, k, 16, device);
    const r = await kernels.infoNCE(q, q, queue, { temperature: tau });
    // = log(1 + K e^{-1/tau}), written so that JS itself does not cancel digits. The kernel
    // computes it as lse - 1/tau, which loses ~log10(e^{1/tau} / loss) digits when the loss
    // is tiny (tau = 0.07: loss ~4e-5 from terms ~14): hence 1e-10, not 1e-15.
    const expected = Math.log1p(k * Math.exp(-1 / tau));
    expect(maxRelError(await r.loss.data(), [expected], 1e-300)).toBeLessThan(1e-10);
    expect(r.accuracy).toBe(1);
  }
  // (2) Perfectly correlated embeddings: every q_i = k_i = u and every queue row = u (a unit
  // vector). Then all K+1 logits of a row equal 1/tau, softmax is uniform, so
  //   loss = -log(1 / (K+1)) = log(K+1) for every tau,
  // and dL/dq_i = 1/(tau N) * [(1/(K+1) - 1) k_i + sum_j queue_j / (K+1)]
  //             = 1/(tau N) * [(1/(K+1) - 1) + K/(K+1)] u = 0.
  // Every row is a K+1-way tie, and ties go to the lowest column, the positive: accuracy 1.
  for (const [n, k, tau] of [[3, 10, 0.2], [1, 1, 1], [5, 4097, 0.05]] as const) {
    const c = 6;
    const u = [0.5, -0.5, 0.5, 0.5, 0, 0];
    const rows = (m: number) => tensor(Float64Array.from({ length: m * c }, (_, i) => u[i % c]), [m, c]);
    const mk = async (m: number) => (device === 'cpu' ? rows(m) : rows(m).to(device));
    const q = await mk(n);
    const r = await kernels.infoNCE(q, q, await mk(k), { temperature: tau, grad: true });
    expect(maxRelError(await r.loss.data(), [Math.log(k + 1)], 1e-300)).toBeLessThan(1e-12);
    for (const g of await r.gradQ!.data()) expect(Math.abs(g)).toBeLessThan(1e-12);
    expect(r.accuracy).toBe(1);
  }
}

describe('kernels.infoNCE closed forms', () => {
  it('cpu: orthogonal queue and perfectly correlated embeddings', async () => {
    await closedForms('cpu');
  });
  it.skipIf(!cuda.isAvailable())('cuda: same (skipped when no CUDA device: needs a GPU)', async () => {
    await closedForms('cuda');
  });
});

describe('kernels.infoNCE argument errors', () => {
  it('names the argument with TypeError / RangeError before any work', async () => {
    const gen = new Generator(5);
    const q = await unitRows([4, 8], 'float32', gen);
    const k = await unitRows([4, 8], 'float32', gen);
    const queue = await unitRows([10, 8], 'float32', gen);
    const bad = async (p: Promise<unknown> | (() => Promise<unknown>), cls: ErrorConstructor, re: RegExp) => {
      const run = typeof p === 'function' ? p : () => p;
      await expect(run()).rejects.toThrow(cls);
      await expect(run()).rejects.toThrow(re);
    };
    await bad(() => kernels.infoNCE(q, k, queue, { temperature: Number.NaN }), RangeError, /infoNCE: options\.temperature/);
    await bad(() => kernels.infoNCE(q, k, queue, { temperature: 0 }), RangeError, /options\.temperature must be a finite number > 0, got 0/);
    await bad(() => kernels.infoNCE(q, k, queue, { temperature: -0.2 }), RangeError, /options\.temperature/);
    const queueC9 = await unitRows([10, 9], 'float32', gen);
    await bad(() => kernels.infoNCE(q, k, queueC9), RangeError, /infoNCE: queue must be a Tensor of shape \[K, C\], C = 8/);
    const k64 = await unitRows([4, 8], 'float64', gen);
    await bad(() => kernels.infoNCE(q, k64, queue), TypeError, /infoNCE: k must be a Tensor with q's dtype \(float32\)/);
    const k5 = await unitRows([5, 8], 'float32', gen);
    await bad(() => kernels.infoNCE(q, k5, queue), RangeError, /infoNCE: k must be a Tensor of shape \[N, C\] = \[4, 8\]/);
    const badTargets = tensor(new Float32Array(4 * 13).fill(0.1), [4, 13]);
    await bad(() => kernels.infoNCE(q, k, queue, { targets: badTargets }), RangeError, /options\.targets must be a Tensor of shape \[N, N\+K\] = \[4, 14\]/);
    const intQ = tensor(new Int32Array(32).fill(1), [4, 8]);
    await bad(() => kernels.infoNCE(intQ, k, queue), TypeError, /infoNCE: q must be a float32 or float64 Tensor/);
    await bad(() => kernels.infoNCE(q, k, 3 as unknown as Tensor), TypeError, /infoNCE: queue must be a Tensor, got 3/);
    const wrongOut = tensor(new Float32Array(8), [2, 4]);
    await bad(() => kernels.infoNCE(q, k, queue, { grad: true, out: wrongOut }), RangeError, /options\.out/);
  });
  it.skipIf(!cuda.isAvailable())('devices differ: TypeError naming the argument (skipped when no CUDA device: needs a GPU)', async () => {
    const gen = new Generator(5);
    const q = await unitRows([4, 8], 'float32', gen);
    const k = await unitRows([4, 8], 'float32', gen, 'cuda');
    const queue = await unitRows([10, 8], 'float32', gen);
    await expect(kernels.infoNCE(q, k, queue)).rejects.toThrow(TypeError);
    await expect(kernels.infoNCE(q, k, queue)).rejects.toThrow(/infoNCE: k must be on q's device \(cpu\)/);
  });
});
