// The world a worker belongs to, from the environment variables torchrun sets (and
// `hexa train --nproc`, Slurm scripts, Kubernetes jobs that follow the same convention):
// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT.

export interface WorldEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
}

function integer(env: NodeJS.ProcessEnv, name: string, min: number, max: number, dflt?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (dflt !== undefined) return dflt;
    throw new Error(`environment: ${name} is not set (a data-parallel worker needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT)`);
  }
  const v = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || v < min || v > max) throw new Error(`environment: ${name} must be an integer in [${min}, ${max}], got '${raw}'`);
  return v;
}

/** The world of this process, or null when it is not part of one (no WORLD_SIZE, or 1). */
export function worldFromEnv(env: NodeJS.ProcessEnv = process.env): WorldEnv | null {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE === '') return null;
  const worldSize = integer(env, 'WORLD_SIZE', 1, 1 << 20);
  if (worldSize === 1) return null;
  const rank = integer(env, 'RANK', 0, worldSize - 1);
  const localRank = integer(env, 'LOCAL_RANK', 0, worldSize - 1, 0);
  const masterAddr = env.MASTER_ADDR;
  if (!masterAddr) throw new Error('environment: MASTER_ADDR is not set (the host of rank 0)');
  const masterPort = integer(env, 'MASTER_PORT', 1, 65535);
  return { rank, worldSize, localRank, masterAddr, masterPort };
}
