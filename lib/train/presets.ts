// `hexa train` with no arguments: the embedded default (HEXA_MoCo's preset, methods/moco.ts).
import { presetOf } from './methods/index.js';

export const EMBEDDED_DEFAULT: Record<string, unknown> = presetOf('hexa-moco');
