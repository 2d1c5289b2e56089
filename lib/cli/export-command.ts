// `hexa export <run dir | checkpoint.json | weights.safetensors> [--out PREFIX]`: the backbone
// with torchvision's names as safetensors and as a PyTorch state-dict file (.pt).
import fs from 'node:fs';
import path from 'node:path';
import { exportTorchvision } from '../eval/backbone.js';
import { flagHelp, parseTable, text, type Flag, UsageError } from './flag-table.js';

export const EXPORT_FLAGS: Flag[] = [
  { name: 'out', doc: 'path prefix of the files written: <out>.safetensors and <out>.pt', shown: '<run dir>/backbone, or the weights file without its extension', parse: text },
];

export const EXPORT_USAGE = `usage: hexa export <run dir | checkpoint.json | weights.safetensors> [flags]
Writes the backbone with torchvision's parameter names as safetensors and as a PyTorch
state-dict file that torch.load(f, weights_only=True) reads (docs/evaluation.md shows loading
it into torchvision.models.resnet18/50).
flags:
${flagHelp(EXPORT_FLAGS)}`;

export async function runExport(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(EXPORT_USAGE + '\n');
    return 0;
  }
  const { positional, values } = parseTable(argv, EXPORT_FLAGS, 'export');
  if (positional.length !== 1) throw new UsageError(`hexa export takes one run directory or weights file, got ${positional.length} (see hexa export --help)`);
  const source = positional[0];
  const isDir = fs.existsSync(source) && fs.statSync(source).isDirectory();
  const prefix = (values.out as string | undefined) ?? (isDir ? path.join(source, 'backbone') : source.replace(/\.[^./]+$/, ''));
  const r = await exportTorchvision(source, prefix);
  process.stdout.write(`${r.spec.arch} width ${r.spec.width}${r.spec.cifarStem ? ' (CIFAR stem)' : ''}: ${r.safetensors}, ${r.pt}\n`);
  return 0;
}
