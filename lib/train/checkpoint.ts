// Checkpoints of any method: a safetensors file with every tensor of the trainer's state (its
// generators included) and a JSON beside it naming that file, the position in the run and the
// run's config. Saved atomically (tensors first, then the JSON that names them), so a crash at
// any moment leaves the previous checkpoint loadable; files no JSON names are pruned.
import fs from 'node:fs';
import path from 'node:path';
import { backboneMetadata, trainedSpec } from '../checkpoint/backbone-metadata.js';
import { loadSafetensors, removeStaleTempFiles, saveSafetensors, writeAtomic } from '../checkpoint/safetensors.js';
import { scope } from '../tensor.js';
import { migrateConfig, resolveConfig, type Method, type TrainConfig } from './config.js';
import type { TrainerModel } from './model.js';

export const CHECKPOINT_FORMAT = 'hexa-torch/checkpoint@2';
/** hexa-torch 0.1's MoCo-only format: same tensor names, MoCo keys at the config's top level. */
const MOCO_CHECKPOINT_V1 = 'hexa-torch/moco-checkpoint@1';

export interface RunPosition {
  /** Where training continues: the epoch and its step. */
  epoch: number;
  epochStep: number;
  globalStep: number;
  /** Processes of the data-parallel run that saved it (absent: 1); epochStep counts its global batches. */
  worldSize?: number;
}

export interface CheckpointInfo extends RunPosition {
  format: typeof CHECKPOINT_FORMAT;
  method: Method;
  /** The safetensors file beside this JSON holding every tensor of the state. */
  weights: string;
  config: TrainConfig;
  savedAt: string;
}

/** Saves the model's state atomically as `<dir>/<name>.json` + its safetensors. */
export async function saveCheckpoint(dir: string, name: string, model: TrainerModel, at: RunPosition): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const weights = `${name}-step${String(at.globalStep).padStart(8, '0')}.safetensors`;
  await scope(async () => {
    const state = await model.state();
    await saveSafetensors(path.join(dir, weights), state, { format: `hexa-torch/${model.config.method}-state@2` });
  });
  const info: CheckpointInfo = { format: CHECKPOINT_FORMAT, method: model.config.method, weights, ...at, config: model.config, savedAt: new Date().toISOString() };
  const json = path.join(dir, `${name}.json`);
  await writeAtomic(json, [JSON.stringify(info, null, 2) + '\n']);
  pruneCheckpoints(dir);
  // A save killed mid-write left a temp file of a weights name no later save reuses (names
  // carry the step): clean those whose writer is gone.
  await removeStaleTempFiles(dir);
  return json;
}

/** Deletes safetensors files no checkpoint JSON names any more. */
function pruneCheckpoints(dir: string): void {
  const files = fs.readdirSync(dir);
  const named = new Set(
    files.filter((f) => f.endsWith('.json')).map((f) => {
      try {
        return (JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as CheckpointInfo).weights;
      } catch {
        return '';
      }
    }),
  );
  for (const f of files) if (f.endsWith('.safetensors') && !named.has(f)) fs.rmSync(path.join(dir, f), { force: true });
}

/** Reads a checkpoint JSON of this or an earlier format; the config comes back validated, in today's shape. */
export function readCheckpointInfo(file: string): CheckpointInfo {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read checkpoint ${file}: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object') throw new Error(`${file} is not a hexa-torch checkpoint`);
  if (raw.format !== CHECKPOINT_FORMAT && raw.format !== MOCO_CHECKPOINT_V1) {
    throw new Error(`${file} is not a hexa-torch checkpoint (format ${JSON.stringify(raw.format)}, expected ${CHECKPOINT_FORMAT})`);
  }
  for (const k of ['epoch', 'epochStep', 'globalStep'] as const) {
    if (!Number.isInteger(raw[k]) || (raw[k] as number) < 0) throw new Error(`checkpoint ${file}: ${k} must be an integer >= 0, got ${JSON.stringify(raw[k])}`);
  }
  if (typeof raw.weights !== 'string' || raw.weights.includes('/') || raw.weights.includes('\\')) {
    throw new Error(`checkpoint ${file}: weights must name a file beside it, got ${JSON.stringify(raw.weights)}`);
  }
  let config: TrainConfig;
  try {
    config = resolveConfig(migrateConfig((raw.config ?? {}) as Record<string, unknown>));
  } catch (e) {
    throw new Error(`checkpoint ${file}: its config is not valid for this hexa-torch: ${(e as Error).message}`);
  }
  return { ...(raw as unknown as CheckpointInfo), format: CHECKPOINT_FORMAT, method: config.method, config };
}

/** Loads the checkpoint's tensors into `model` (strict: names, shapes and dtypes must match). */
export async function loadCheckpoint(file: string, info: CheckpointInfo, model: TrainerModel): Promise<void> {
  const { tensors } = await loadSafetensors(path.join(path.dirname(file), info.weights));
  try {
    await model.loadState(tensors);
  } catch (e) {
    throw new Error(`checkpoint ${file} does not fit this model: ${(e as Error).message}`);
  } finally {
    Object.values(tensors).forEach((t) => t.dispose());
  }
}

/** Writes the trained backbone with torchvision's names (loads into torchvision.models.resnet*, strict=False for fc). */
export async function exportBackbone(model: TrainerModel, file: string): Promise<void> {
  await scope(async () => {
    const backbone = await model.backboneState();
    // The same metadata as hexa export's file: stem and normalisation too, for PyTorch users.
    await saveSafetensors(file, backbone, backboneMetadata(trainedSpec(backbone, file)));
  });
}
