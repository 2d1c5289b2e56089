// kernels.clusterCE (DeepCluster-v2, one head) against PyTorch from plain ops
// (F.cross_entropy on z @ P.T / tau; soft CE as -(T * log_softmax).sum(1).mean(); autograd
// gradients, gradcheck in float64), a closed form and argument errors.
import { describe, expect, it } from 'vitest';
import { cuda, type Device, type DType, Generator, kernels, type Tensor, tensor } from '../../lib/index.js';
import { maxRelError, torchReference } from '../support/torch-reference.js';
import { refOf, hasNaN, normwiseError, poisonedOn, seededUniform, tolerance, unitRows, type LossCase } from '../support/kernel-checks.js';

type Case = LossCase;
const CASES: Case[] = [
  { name: 'n1', n: 1, c: 3, k: 2, tau: 0.1 },
  { name: 'odd', n: 7, c: 13, k: 29, tau: 0.1 },
  { name: 'big', n: 64, c: 128, k: 3001, tau: 0.1 },
  // 16 warps per row on CUDA: most targets are columns another warp owns (the target's logit
  // must be read before that warp overwrites the row with its exponentials).
  { name: 'wide', n: 256, c: 16, k: 8192, tau: 0.1 },
  { name: 'k1', n: 4, c: 5, k: 1, tau: 0.5 },
  { name: 'soft_cutmix', n: 9, c: 17, k: 11, tau: 0.1, soft: 'cutmix' },
  { name: 'soft_dense', n: 5, c: 6, k: 8, tau: 0.3, soft: 'dense' },
];

async function targetsFor(c: Case, dtype: DType, device: Device, seed: number): Promise<Tensor> {
  const u = seededUniform(seed);
  let t: Tensor;
  if (!c.soft) {
    t = tensor(BigInt64Array.from({ length: c.n }, () => BigInt(Math.floor(u() * c.k))), [c.n]);
  } else {
    const a = new Float64Array(c.n * c.k);
    for (let i = 0; i < c.n; i++) {
      if (c.soft === 'dense') {
        for (let j = 0; j < c.k; j++) a[i * c.k + j] = u();
      } else {
        const lambda = 0.55 + 0.4 * u();
        const p = Math.floor(u() * c.k), q = Math.floor(u() * c.k);
        a[i * c.k + p] += lambda;
        a[i * c.k + q] += 1 - lambda;
      }
    }
    t = tensor(a, [c.n, c.k], dtype);
  }
  return device === 'cpu' ? t : t.to(device);
}

const REFERENCE = (cases: Case[]) => `
import torch.nn.functional as F
for c in json.loads('${JSON.stringify(cases)}'):
    nm, tau = c['name'], c['tau']
    z0, P, T = inp[nm + '_z'], inp[nm + '_p'], inp[nm + '_t']
    def loss_fn(z):
        logits = z @ P.t() / tau
        if T.dtype == torch.int64:
            return F.cross_entropy(logits, T), logits
        return -(T * F.log_softmax(logits, 1)).sum(1).mean(), logits
    z = z0.clone().requires_grad_(True)
    loss, logits = loss_fn(z)
    loss.backward()
    out[nm + '_loss'] = loss
    out[nm + '_grad'] = z.grad
    target = T if T.dtype == torch.int64 else T.argmax(1)
    out[nm + '_acc'] = (logits.argmax(1) == target).double().mean()
    if z0.dtype == torch.float64 and z0.numel() <= 600:  # gradcheck perturbs every input: small cases only
        ok = torch.autograd.gradcheck(lambda x: loss_fn(x)[0], (z0.clone().requires_grad_(True),))
        out[nm + '_gradcheck'] = torch.tensor(float(ok))
`;

async function checkAgainstTorch(dtype: DType, device: Device): Promise<void> {
  const gen = new Generator(4321);
  const inputs: Record<string, Tensor> = {};
  for (const [i, c] of CASES.entries()) {
    inputs[`${c.name}_z`] = await unitRows([c.n, c.c], dtype, gen, device);
    inputs[`${c.name}_p`] = await unitRows([c.k, c.c], dtype, gen, device);
    inputs[`${c.name}_t`] = await targetsFor(c, dtype, device, 100 + i);
  }
  const refIn = Object.fromEntries(await Promise.all(Object.entries(inputs).map(async ([k, t]) => [k, await refOf(t)])));
  const ref = torchReference(REFERENCE(CASES), refIn);
  for (const c of CASES) {
    const z = inputs[`${c.name}_z`], p = inputs[`${c.name}_p`], t = inputs[`${c.name}_t`];
    const out = await poisonedOn([c.n, c.c], dtype, device);
    const r = await kernels.clusterCE(z, p, t, { temperature: c.tau, grad: true, out });
    expect(r.gradZ).toBe(out);
    const loss = await r.loss.data();
    const grad = await r.gradZ!.data();
    expect(hasNaN(grad), `${c.name}: gradZ fully written`).toBe(false);
    expect(maxRelError(loss, ref[`${c.name}_loss`].data), `${c.name} loss`).toBeLessThan(tolerance(dtype));
    expect(normwiseError(grad, ref[`${c.name}_grad`].data), `${c.name} gradZ`).toBeLessThan(tolerance(dtype));
    if (dtype === 'float64') {
      expect(maxRelError(grad, ref[`${c.name}_grad`].data, 1e-12), `${c.name} gradZ elementwise`).toBeLessThan(1e-6);
      if (c.n * c.c <= 600) expect(ref[`${c.name}_gradcheck`].data[0]).toBe(1);
    }
    expect(r.accuracy, `${c.name} accuracy`).toBeCloseTo(ref[`${c.name}_acc`].data[0], 12);
    const fwdOnly = await kernels.clusterCE(z, p, t, { temperature: c.tau });
    expect(fwdOnly.gradZ).toBeUndefined();
    expect(Array.from(await fwdOnly.loss.data())).toEqual(Array.from(loss));
  }
}

async function closedForm(device: Device): Promise<void> {
  // Orthonormal prototypes (rows of the identity) and z_i = P[t_i]: the target logit is
  // 1/tau and the K-1 others are 0, so loss = log(1 + (K-1) e^{-1/tau}) and accuracy 1.
  const k = 6, c = 6, tau = 0.25;
  const targets = [3, 0, 5, 5];
  const eye = Float64Array.from({ length: k * c }, (_, i) => (Math.floor(i / c) === i % c ? 1 : 0));
  const z = Float64Array.from({ length: targets.length * c }, (_, i) => (i % c === targets[Math.floor(i / c)] ? 1 : 0));
  const put = async (t: Tensor) => (device === 'cpu' ? t : t.to(device));
  const r = await kernels.clusterCE(
    await put(tensor(z, [targets.length, c])),
    await put(tensor(eye, [k, c])),
    await put(tensor(BigInt64Array.from(targets.map(BigInt)), [targets.length])),
    { temperature: tau },
  );
  expect(maxRelError(await r.loss.data(), [Math.log1p((k - 1) * Math.exp(-1 / tau))], 1e-300)).toBeLessThan(1e-12);
  expect(r.accuracy).toBe(1);
}

describe('kernels.clusterCE vs torch (F.cross_entropy, soft CE, autograd)', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`cpu ${dtype}: hard and soft targets, odd shapes, N = 1, K = 1`, async () => {
      await checkAgainstTorch(dtype, 'cpu');
    });
    it.skipIf(!cuda.isAvailable())(`cuda ${dtype}: same (skipped when no CUDA device: needs a GPU)`, async () => {
      await checkAgainstTorch(dtype, 'cuda');
    });
  }
  it('cpu: closed form with orthonormal prototypes', async () => {
    await closedForm('cpu');
  });
  it.skipIf(!cuda.isAvailable())('cuda: closed form (skipped when no CUDA device: needs a GPU)', async () => {
    await closedForm('cuda');
  });
});

describe('kernels.clusterCE argument errors', () => {
  it('names the argument', async () => {
    const gen = new Generator(8);
    const z = await unitRows([4, 8], 'float32', gen);
    const p = await unitRows([5, 8], 'float32', gen);
    const t = tensor(BigInt64Array.from([0n, 1n, 4n, 2n]), [4]);
    const check = async (f: () => Promise<unknown>, cls: ErrorConstructor, re: RegExp) => {
      await expect(f()).rejects.toThrow(cls);
      await expect(f()).rejects.toThrow(re);
    };
    await check(() => kernels.clusterCE(z, p, t, { temperature: Number.NaN }), RangeError, /clusterCE: options\.temperature/);
    await check(() => kernels.clusterCE(z, p, t, { temperature: -1 }), RangeError, /clusterCE: options\.temperature must be a finite number > 0/);
    const p9 = await unitRows([5, 9], 'float32', gen);
    await check(() => kernels.clusterCE(z, p9, t), RangeError, /clusterCE: prototypes must be a Tensor of shape \[K, C\], C = 8/);
    const p64 = await unitRows([5, 8], 'float64', gen);
    await check(() => kernels.clusterCE(z, p64, t), TypeError, /clusterCE: prototypes must be a Tensor with z's dtype/);
    const t5 = tensor(BigInt64Array.from([0n, 1n, 4n, 2n, 1n]), [5]);
    await check(() => kernels.clusterCE(z, p, t5), RangeError, /clusterCE: targets must be a Tensor of shape \[N\] = \[4\]/);
    const soft = tensor(new Float32Array(4 * 6).fill(0.2), [4, 6]);
    await check(() => kernels.clusterCE(z, p, soft), RangeError, /clusterCE: targets must be a Tensor of shape \[N, K\] = \[4, 5\]/);
    const t32 = tensor(new Int32Array([0, 1, 2, 3]), [4]);
    await check(() => kernels.clusterCE(z, p, t32), TypeError, /clusterCE: targets must be an int64 Tensor \[N\] or a float32 Tensor \[N, K\]/);
    const outOfRange = tensor(BigInt64Array.from([0n, 1n, 5n, 2n]), [4]);
    await check(() => kernels.clusterCE(z, p, outOfRange), RangeError, /clusterCE: .*targets must be in \[0, 5\), got values in \[0, 5\]/);
  });

  it.skipIf(!cuda.isAvailable())('cuda: a target out of range rejects and CUDA keeps working (skipped when no CUDA device: needs a GPU)', async () => {
    const gen = new Generator(9);
    const z = await (await unitRows([4, 8], 'float32', gen)).to('cuda');
    const p = await (await unitRows([5, 8], 'float32', gen)).to('cuda');
    const bad = await tensor(BigInt64Array.from([0n, 1n, 5n, -3n]), [4]).to('cuda');
    const err = await kernels.clusterCE(z, p, bad).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect((err as Error).message).toMatch(/^clusterCE: targets must be in \[0, 5\), got 2 value\(s\) outside$/);
    const good = await tensor(BigInt64Array.from([0n, 1n, 4n, 2n]), [4]).to('cuda');
    const r = await kernels.clusterCE(z, p, good);
    expect(Number.isFinite(await r.loss.item())).toBe(true); // no device assert poisoned the context
  });
});
