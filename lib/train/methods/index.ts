// The methods `hexa train --method` knows, by name. Adding one: a file implementing
// TrainMethod (method.ts), a native trainer, and a line here.
import type { Method } from '../config.js';
import { dcluster } from './dcluster.js';
import type { TrainMethod } from './method.js';
import { moco } from './moco.js';

export type { MethodContext, TrainMethod } from './method.js';
export { commonOptions } from './method.js';

const BY_NAME: Record<Method, TrainMethod> = { moco, 'hexa-moco': moco, dcluster, 'hexa-dcluster': dcluster };

export function methodOf(name: Method): TrainMethod {
  return BY_NAME[name];
}

/** `hexa train --method <name>` with no other flags (the hard-view keys are ignored by moco/dcluster). */
export function presetOf(name: Method): Record<string, unknown> {
  const p: Record<string, unknown> = { ...BY_NAME[name].preset, method: name };
  if (!name.startsWith('hexa-')) {
    delete p.adversarial;
    delete p.cutmix;
    delete p.hardViewStartEpoch;
  }
  return p;
}
