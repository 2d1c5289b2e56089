// Failures of a data-parallel run (docs/distributed.md), 2 CPU processes on loopback: a
// killed worker makes the other stop within the timeout naming it, the last checkpoint stays
// loadable and resumes (at another world size); Ctrl-C on the launcher stops every worker
// with a checkpoint; a busy port or an unreachable master is a clear error, not a hang.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Communicator, distBackends } from '../../lib/dist/communicator.js';
import { readCheckpointInfo } from '../../lib/train/checkpoint.js';
import { TrainerModel } from '../../lib/train/model.js';
import { resolveConfig } from '../../lib/train/config.js';
import { train } from '../../lib/train/run.js';
import { freePort } from './run-ranks.js';

const gloo = distBackends().gloo;
const root = path.join(__dirname, '..', '..');
const cli = path.join(root, 'lib', 'cli', 'hexa.ts');
// 512 images in global batches of 16: 32 steps an epoch, a few seconds.
const run = { method: 'moco', data: 'cifar10', trainSubset: 512, batchSize: 8, epochs: 3, width: 4, knnEvery: -1, seed: 5, threads: 1 };
const flags = ['--method', 'moco', '--data', 'cifar10', '--train-subset', '512', '--batch-size', '8', '--epochs', '3', '--width', '4', '--knn-every', '-1', '--seed', '5', '--threads', '1'];

interface Proc {
  child: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: root, env: { ...process.env, ...env } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: performance.now() })));
  return { child, output: () => out, exit };
}

/** Resolves once metrics.jsonl under `out` has a line matching `pattern` (polled). */
async function waitForLog(out: string, pattern: RegExp, limitMs = 120_000): Promise<void> {
  const file = path.join(out, 'metrics.jsonl');
  const t0 = Date.now();
  while (Date.now() - t0 < limitMs) {
    if (fs.existsSync(file) && pattern.test(fs.readFileSync(file, 'utf8'))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no line matching ${pattern} in ${file} within ${limitMs} ms`);
}

describe.skipIf(!gloo)(`failures of a data-parallel run${gloo ? '' : ': skipped, this build has no Gloo backend'}`, () => {
  it('a worker killed mid-epoch: the other stops within the timeout naming it; the checkpoint resumes in one process', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-dist-kill-'));
    const out = path.join(tmp, 'run');
    const port = await freePort();
    const timeout = 20;
    // Workers as torchrun starts them: only the environment says where they belong.
    const ranks = [0, 1].map((rank) =>
      start(['train', ...flags, '--dist-timeout', String(timeout), '--out', out], { RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) }),
    );
    try {
      // After epoch 1's checkpoint, a few steps into epoch 2.
      await waitForLog(out, /"epoch":1,"epochStep":3,/);
      const killedAt = performance.now();
      ranks[1].child.kill('SIGKILL');
      const survivor = await ranks[0].exit;
      const seconds = (survivor.at - killedAt) / 1000;
      console.log(`rank 0 stopped ${seconds.toFixed(1)} s after rank 1 was killed: ${ranks[0].output().trim().split('\n').pop()}`);
      expect(survivor.code).toBe(1);
      expect(seconds).toBeLessThan(timeout);
      expect(ranks[0].output()).toMatch(/rank 0 of 2: (allreduce|allgather|broadcast) failed \(not answering: rank 1\)/);
      // The last checkpoint is epoch 1's, intact; it resumes in one process to the end.
      const info = readCheckpointInfo(path.join(out, 'checkpoints', 'last.json'));
      expect([info.epoch, info.epochStep, info.worldSize]).toEqual([1, 0, 2]);
      const messages: string[] = [];
      const r = await train(resolveConfig(run, { out, resume: true }), { onMessage: (m) => messages.push(m) });
      expect(r.stopped).toBe(false);
      expect(r.epochsDone).toBe(3);
      // One process at batch 8 has twice the steps of an epoch of the 2-process run.
      expect(r.globalStep).toBe(3 * 64);
      expect(messages.join('\n')).toMatch(/resumed from .* at epoch 2, step 0/);
    } finally {
      for (const p of ranks) p.child.kill('SIGKILL');
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 300_000);

  it('a frozen worker (SIGSTOP): the other stops after --dist-timeout naming it', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-dist-hang-'));
    const out = path.join(tmp, 'run');
    const port = await freePort();
    const timeout = 8;
    const ranks = [0, 1].map((rank) =>
      start(['train', ...flags, '--dist-timeout', String(timeout), '--out', out], { RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) }),
    );
    try {
      await waitForLog(out, /"epoch":0,"epochStep":3,/);
      const frozenAt = performance.now();
      ranks[1].child.kill('SIGSTOP');
      const survivor = await ranks[0].exit;
      const seconds = (survivor.at - frozenAt) / 1000;
      console.log(`rank 0 stopped ${seconds.toFixed(1)} s after rank 1 froze (timeout ${timeout} s)`);
      expect(survivor.code).toBe(1);
      expect(seconds).toBeGreaterThan(timeout - 1);
      // The timeout, the 2.5 s look at the heartbeats, the exit.
      expect(seconds).toBeLessThan(timeout + 10);
      // Whichever collective of the step was waiting (the keys' gather, the gradients' reduce).
      expect(ranks[0].output()).toMatch(new RegExp(`rank 0 of 2: (allreduce|allgather|broadcast) failed after the timeout of ${timeout} s \\(not answering: rank 1\\)`));
    } finally {
      for (const p of ranks) p.child.kill('SIGKILL');
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 120_000);

  it('hexa train --nproc 2: a killed worker fails the launch naming its rank; Ctrl-C on the launcher stops both with a checkpoint that resumes at world size 2', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-dist-launch-'));
    try {
      // Ctrl-C: the launcher passes SIGINT on, both ranks agree to stop after the same step.
      const out = path.join(tmp, 'interrupted');
      const port = String(await freePort());
      const launcher = start(['train', '--nproc', '2', '--master-port', port, ...flags, '--out', out]);
      await waitForLog(out, /"epoch":0,"epochStep":5,/);
      launcher.child.kill('SIGINT');
      const stopped = await launcher.exit;
      expect(stopped.code, launcher.output()).toBe(130);
      expect(launcher.output()).toMatch(/stopped; checkpoint .*last\.json/);
      const mid = readCheckpointInfo(path.join(out, 'checkpoints', 'last.json'));
      expect(mid.epoch).toBe(0);
      expect(mid.epochStep).toBeGreaterThan(5);
      expect(mid.worldSize).toBe(2);
      const resumed = start(['train', '--nproc', '2', '--master-port', port, '--out', out, '--resume', '--epochs', '1']);
      const done = await resumed.exit;
      expect(done.code, resumed.output()).toBe(0);
      expect(resumed.output()).toMatch(new RegExp(`resumed from .* at epoch 1, step ${mid.epochStep}`));
      expect(readCheckpointInfo(path.join(out, 'checkpoints', 'last.json')).globalStep).toBe(32);

      // A worker killed: the launcher names it and exits non-zero; no worker is left.
      const out2 = path.join(tmp, 'killed');
      const launcher2 = start(['train', '--nproc', '2', '--master-port', String(await freePort()), ...flags, '--dist-timeout', '20', '--out', out2]);
      await waitForLog(out2, /"epoch":0,"epochStep":3,/);
      const pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === launcher2.child.pid;
        } catch {
          return false;
        }
      });
      const rank1 = pids.find((p) => fs.readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes('RANK=1'));
      expect(rank1, 'rank 1 worker process').toBeDefined();
      process.kill(Number(rank1), 'SIGKILL');
      const failed = await launcher2.exit;
      expect(failed.code).toBe(137);
      expect(launcher2.output()).toMatch(/training failed: rank 1 was killed by SIGKILL/);
      expect(launcher2.output()).toMatch(/not answering: rank 1/);
      for (const p of pids) expect(fs.existsSync(`/proc/${p}/stat`) && !/\) Z /.test(fs.readFileSync(`/proc/${p}/stat`, 'utf8')), `worker ${p} still running`).toBe(false);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 300_000);

  it('a busy port on rank 0, an unreachable master, bad ranks: clear errors, no hang', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      await expect(Communicator.connect({ masterAddr: '127.0.0.1', masterPort: port, rank: 0, worldSize: 2, timeoutSeconds: 5 })).rejects.toThrow(/port is in use/);
    } finally {
      busy.close();
    }
    const nobody = await freePort();
    const t0 = performance.now();
    await expect(Communicator.connect({ masterAddr: '127.0.0.1', masterPort: nobody, rank: 1, worldSize: 2, timeoutSeconds: 2 })).rejects.toThrow(
      new RegExp(`rank 1: cannot reach the master at 127.0.0.1:${nobody} within 2 s`),
    );
    expect((performance.now() - t0) / 1000).toBeLessThan(15);
    await expect(Communicator.connect({ masterAddr: '127.0.0.1', masterPort: nobody, rank: 2, worldSize: 2 })).rejects.toThrow(/connectProcessGroup: options\.rank/);
    await expect(Communicator.connect({ masterAddr: '', masterPort: nobody, rank: 0, worldSize: 2 })).rejects.toThrow(/options\.masterAddr/);
    // A trainer's communicator must be one connectProcessGroup() made.
    const fake = { handle: { rank: 0, worldSize: 2, backend: 'gloo' } } as unknown as Communicator;
    await expect(TrainerModel.create(resolveConfig({ method: 'moco', width: 4 }), { viewSize: 16, datasetSize: 8 }, fake)).rejects.toThrow(
      /createTrainer: options\.communicator must be a communicator from connectProcessGroup\(\)/,
    );
  }, 60_000);
});
