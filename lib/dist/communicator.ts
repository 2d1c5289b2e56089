// One rank of a data-parallel world: connects through LibTorch's c10d (a TCPStore rendezvous
// at MASTER_ADDR:MASTER_PORT, then Gloo for CPU tensors or NCCL for CUDA tensors), and the
// few collectives the run loop needs itself (metrics, stop requests, barriers). Trainers made
// with `communicator` average their gradients and share what their method must (native).
import { native } from '../native.js';
import type { CommunicatorHandle } from '../native-types.js';
import { tensor, Tensor } from '../tensor.js';

export type DistBackend = 'gloo' | 'nccl';

export interface ConnectOptions {
  /** 'gloo' (CPU tensors) or 'nccl' (CUDA tensors); default: by device. */
  backend?: DistBackend;
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  /** Rendezvous and every collective: a peer silent this long fails the run (default 300 s). */
  timeoutSeconds?: number;
  /** This rank's CUDA device (NCCL). */
  cudaDevice?: number;
}

/** Which backends this build has; for a missing one, why. */
export function distBackends(): { gloo: boolean; nccl: boolean; glooMissing: string; ncclMissing: string } {
  return native().distBackends();
}

export class Communicator {
  private closed = false;
  private constructor(readonly handle: CommunicatorHandle) {}

  /** Joins the world: resolves when every rank arrived (or rejects naming what failed). */
  static async connect(o: ConnectOptions): Promise<Communicator> {
    const handle = await native().connectProcessGroup({
      backend: o.backend ?? 'gloo',
      masterAddr: o.masterAddr,
      masterPort: o.masterPort,
      rank: o.rank,
      worldSize: o.worldSize,
      timeoutMs: Math.round((o.timeoutSeconds ?? 300) * 1000),
      cudaDevice: o.cudaDevice,
    });
    return new Communicator(handle);
  }

  get rank(): number {
    return this.handle.rank;
  }
  get worldSize(): number {
    return this.handle.worldSize;
  }
  get backend(): DistBackend {
    return this.handle.backend;
  }

  /** The element-wise sum over ranks of a vector of numbers (float64). */
  async sum(values: ArrayLike<number>): Promise<Float64Array> {
    return this.collective(values, (t) => native().communicatorAllReduce(this.handle, t));
  }

  /** Rank `root`'s vector of numbers on every rank. */
  async broadcast(values: ArrayLike<number>, root = 0): Promise<Float64Array> {
    return this.collective(values, (t) => native().communicatorBroadcast(this.handle, t, root));
  }

  /** Numbers in a float64 tensor through one collective and back, the tensors freed either way. */
  private async collective(values: ArrayLike<number>, op: (t: Tensor['handle']) => Promise<Tensor['handle']>): Promise<Float64Array> {
    const t = tensor(Float64Array.from(values), [values.length]);
    try {
      const r = new Tensor(await op(t.handle));
      try {
        return (await r.data()) as Float64Array;
      } finally {
        r.dispose();
      }
    } finally {
      t.dispose();
    }
  }

  async barrier(): Promise<void> {
    await native().communicatorBarrier(this.handle);
  }

  /** Leaves the world (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await native().communicatorClose(this.handle);
  }
}
