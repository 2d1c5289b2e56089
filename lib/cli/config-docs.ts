// `hexa train --help` from the config's own documentation: the doc comments of TrainConfig
// and its sections (lib/train/config.ts, lib/train/methods/*-config.ts, shipped with the
// package) and the defaults from DEFAULTS and the method's preset, so the help cannot drift
// from the code. A test checks that every key has its doc.
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../native.js';
import { CONFIG_KEYS, DEFAULTS, type Method } from '../train/config.js';
import { presetOf } from '../train/methods/index.js';

/** The section keys of TrainConfig and the interface documenting each. */
const SECTIONS: Record<string, string> = { adversarial: 'AdversarialConfig', cutmix: 'CutmixConfig', lars: 'LarsConfig', moco: 'MocoConfig', dcluster: 'DClusterConfig' };
const SOURCES = ['lib/train/config.ts', 'lib/train/methods/moco-config.ts', 'lib/train/methods/dcluster-config.ts'];

/** Doc comment per field of every exported interface in the sources: { Interface: { field: doc } }. */
export function interfaceDocs(): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const rel of SOURCES) {
    const file = path.join(packageRoot, rel);
    if (!fs.existsSync(file)) continue;
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/export interface (\w+) \{\n([\s\S]*?)\n\}/g)) {
      const fields: Record<string, string> = {};
      for (const f of m[2].matchAll(/\/\*\*([\s\S]*?)\*\/\s*\n\s*(\w+)\??:/g)) {
        fields[f[2]] = f[1].split('\n').map((l) => l.replace(/^\s*\*\s?/, '').trim()).filter(Boolean).join(' ');
      }
      out[m[1]] = fields;
    }
  }
  return out;
}

// --batch-size for batchSize; a key with an acronym (auxBN) is shown as it is (the parser takes both).
const kebab = (s: string) => (/[A-Z]{2}/.test(s) ? s : s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
const shown = (v: unknown) => (v === null ? 'off' : Array.isArray(v) ? v.join(',') : String(v));

export interface FlagDoc {
  name: string;
  doc: string;
  shown: string;
}

/** Every `hexa train` flag (sections as --section.key), its doc and its default (and the preset's value where it differs). */
export function trainFlagDocs(method: Method = DEFAULTS.method): FlagDoc[] {
  const docs = interfaceDocs();
  const preset = presetOf(method) as Record<string, unknown>;
  const out: FlagDoc[] = [{ name: 'config', doc: 'read these config keys from a JSON or YAML file (flags override it; it replaces the preset)', shown: 'none' }];
  const valueText = (dflt: unknown, presetValue: unknown) =>
    presetValue === undefined || JSON.stringify(presetValue) === JSON.stringify(dflt) ? shown(dflt) : `${shown(dflt)}; preset ${shown(presetValue)}`;
  for (const key of CONFIG_KEYS) {
    const dflt = (DEFAULTS as unknown as Record<string, unknown>)[key];
    const doc = docs.TrainConfig?.[key] ?? '';
    const section = SECTIONS[key];
    if (!section) {
      out.push({ name: kebab(key), doc, shown: valueText(dflt, preset[key]) });
      continue;
    }
    out.push({ name: kebab(key), doc: `${doc}${dflt === null || key === 'adversarial' || key === 'cutmix' ? ' (off/null switches it off)' : ''}`, shown: '' });
    const sub = (dflt ?? {}) as Record<string, unknown>;
    const presetSub = (preset[key] ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(sub)) out.push({ name: `${key}.${kebab(k)}`, doc: docs[section]?.[k] ?? '', shown: valueText(v, presetSub[k]) });
  }
  return out;
}
