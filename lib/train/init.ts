// `--init <weights.safetensors>`: pre-training starts from torchvision-named backbone weights
// (hexa export's, or any torchvision resnet18/50 state dict in safetensors) instead of the
// random initialisation. Every backbone copy in the trainer's state takes them (MoCo's query
// and key encoders alike, as MoCo copies the query into the key at the start); heads,
// optimizer and method buffers keep their fresh state.
import { loadSafetensors } from '../checkpoint/safetensors.js';
import { scope, type Tensor } from '../tensor.js';
import type { TrainerModel } from './model.js';

const FLOATING = new Set(['float32', 'float64', 'float16', 'bfloat16']);

/** Loads `file` into every `<prefix>.backbone.*` of the model's state; returns a description for the log. */
export async function initBackbone(model: TrainerModel, file: string): Promise<string> {
  const { tensors } = await loadSafetensors(file);
  try {
    await scope(async () => {
      const state = await model.state();
      const wanted = new Set<string>();
      for (const [k, t] of Object.entries(state)) {
        const m = k.match(/^[^.]+\.backbone\.(.+)$/);
        if (!m || m[1].includes('aux_')) continue;
        const name = m[1];
        wanted.add(name);
        let w: Tensor | undefined = tensors[name];
        const c = model.config;
        const net = `a ${c.arch} of width ${c.width}`;
        // Files saved before PyTorch 0.4.1 have no BN batch counters: the fresh ones stay.
        if (!w && name.endsWith('num_batches_tracked')) continue;
        if (!w) throw new Error(`--init: ${file} has no tensor '${name}' (a torchvision-named backbone of ${net} has it)`);
        // Half- or double-precision exports load into the float32 network.
        if (w.dtype !== t.dtype && FLOATING.has(w.dtype) && FLOATING.has(t.dtype)) w = await w.to(t.dtype);
        if (w.dtype !== t.dtype || w.shape.join() !== t.shape.join()) {
          throw new Error(`--init: ${file}: '${name}' is ${w.dtype} [${w.shape}], ${net} (this run's arch, width and stem) has ${t.dtype} [${t.shape}]`);
        }
        state[k] = w;
      }
      const unknown = Object.keys(tensors).filter((k) => !wanted.has(k) && !k.startsWith('fc.'));
      if (unknown.length) throw new Error(`--init: ${file} has tensors no ${model.config.arch} backbone has (${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ', ...' : ''})`);
      await model.loadState(state);
    });
  } finally {
    Object.values(tensors).forEach((t) => t.dispose());
  }
  return file;
}
