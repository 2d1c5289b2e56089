// hexa-torch weights in PyTorch: the .pt file `hexa export` writes loads with
// torch.load(weights_only=True) into torchvision's ResNet through the snippet of
// docs/evaluation.md, run verbatim, and PyTorch's features equal hexa-torch's.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { backboneFeatures, Generator, loadBackbone, rand, randn, saveSafetensors, scope, untrainedBackbone, type BackboneSpec } from '../../lib/index.js';
import { exportTorchvision } from '../../lib/eval/backbone.js';
import { maxRelError, torchReference } from '../support/torch-reference.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-interop-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The snippet of docs/evaluation.md, as written there. */
function docSnippet(): string {
  const doc = fs.readFileSync(path.join(root, 'docs', 'evaluation.md'), 'utf8');
  const m = doc.match(/<!-- snippet: torchvision-load[^>]*-->\n```python\n([\s\S]*?)```/);
  if (!m) throw new Error('docs/evaluation.md has no torchvision-load snippet');
  return m[1];
}

/** `torchvision.models` for Python: the real one, else test/reference/torchvision_resnet.py under that name. */
function torchvisionShim(): string {
  const shim = path.join(dir, 'shim');
  fs.mkdirSync(path.join(shim, 'torchvision', 'models'), { recursive: true });
  fs.writeFileSync(path.join(shim, 'torchvision', '__init__.py'), 'from . import models\n');
  fs.writeFileSync(
    path.join(shim, 'torchvision', 'models', '__init__.py'),
    `import sys\nsys.path.insert(0, ${JSON.stringify(path.join(root, 'test', 'reference'))})\nfrom torchvision_resnet import resnet18, resnet50\n`,
  );
  return `
try:
    import torchvision
except ImportError:
    sys.path.insert(0, ${JSON.stringify(shim)})
    import torchvision
`;
}

/** A backbone with BN running statistics that are not the initial ones (eval mode must use them). */
async function backboneFile(spec: BackboneSpec, file: string): Promise<void> {
  const b = await untrainedBackbone(spec, 11);
  try {
    await scope(async () => {
      const g = new Generator(2);
      const state = { ...b.state };
      for (const k of Object.keys(state)) {
        if (k.endsWith('running_var')) state[k] = await (await rand(state[k].shape, { generator: g })).add(0.5);
        if (k.endsWith('running_mean')) state[k] = await (await randn(state[k].shape, { generator: g })).mul(0.1);
        if (k.endsWith('bn1.weight') || k.endsWith('bn2.weight')) state[k] = await (await rand(state[k].shape, { generator: g })).add(0.5);
      }
      await saveSafetensors(file, state, { format: 'torchvision-resnet-backbone', arch: spec.arch, width: String(spec.width) });
    });
  } finally {
    b.dispose();
  }
}

describe('PyTorch interop', () => {
  const cases: Array<[string, BackboneSpec, number]> = [
    ['resnet18, CIFAR stem', { arch: 'resnet18', width: 64, cifarStem: true, mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] }, 32],
    ['resnet50, torchvision stem', { arch: 'resnet50', width: 64, cifarStem: false, mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] }, 64],
  ];
  for (const [name, spec, side] of cases) {
    it(`${name}: the exported .pt loads into torchvision with strict=True through the documented snippet; features equal to 1e-5`, async () => {
      const file = path.join(dir, `${spec.arch}.safetensors`);
      await backboneFile(spec, file);
      const exported = await exportTorchvision(file, path.join(dir, spec.arch));
      expect(exported.pt).toBe(path.join(dir, `${spec.arch}.pt`));
      await scope(async () => {
        const images = await (await (await rand([3, 3, side, side], { generator: new Generator(9) })).mul(255)).to('uint8');
        const b = await loadBackbone(file);
        let ours: Float32Array;
        try {
          ours = (await (await backboneFeatures(b, images)).data()) as Float32Array;
        } finally {
          b.dispose();
        }
        const snippet = docSnippet().replace(
          /^FILE, ARCH, CIFAR_STEM = .*$/m,
          `FILE, ARCH, CIFAR_STEM = ${JSON.stringify(exported.pt)}, ${JSON.stringify(spec.arch)}, ${spec.cifarStem ? 'True' : 'False'}`,
        );
        const ref = torchReference(
          `${torchvisionShim()}
${snippet}
assert isinstance(state, dict) and not any(k.startswith('fc.') for k in state)
mean = torch.tensor(${JSON.stringify(spec.mean)}).view(1, 3, 1, 1)
std = torch.tensor(${JSON.stringify(spec.std)}).view(1, 3, 1, 1)
with torch.no_grad():
    out['f'] = model((inp['x'].float() / 255 - mean) / std)`,
          { x: { data: (await images.data()) as Uint8Array, shape: images.shape } },
        );
        expect(ref.f.shape).toEqual([3, spec.arch === 'resnet50' ? 2048 : 512]);
        expect(maxRelError(ours!, ref.f.data, 1)).toBeLessThan(1e-5);
      });
    }, 300_000);
  }

  it('the .pt file is a zip PyTorch reads without unpickling code: only the allowed globals appear in data.pkl', async () => {
    const pt = fs.readFileSync(path.join(dir, 'resnet18.pt'));
    expect(pt.subarray(0, 4)).toEqual(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
    const globals = new Set([...pt.toString('latin1').matchAll(/c(torch[\w.]*|collections)\n(\w+)\n/g)].map((m) => `${m[1]}.${m[2]}`));
    expect([...globals].sort()).toEqual(['collections.OrderedDict', 'torch.FloatStorage', 'torch.LongStorage', 'torch._utils._rebuild_tensor_v2']);
  });
});
