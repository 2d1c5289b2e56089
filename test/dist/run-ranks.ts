// Starts the 2 ranks of a proof (workers/step.ts) on a free loopback port and waits for both.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RankExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
  seconds: number;
}

/** Runs `node --import tsx <script> <rank> <port> ...args` for ranks 0..world-1. */
export async function runRanks(script: string, args: string[], world = 2, env: NodeJS.ProcessEnv = {}): Promise<RankExit[]> {
  const root = path.join(__dirname, '..', '..');
  const port = await freePort();
  const t0 = performance.now();
  return Promise.all(
    Array.from({ length: world }, (_, rank) =>
      new Promise<RankExit>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', script, String(rank), String(port), ...args], { cwd: root, env: { ...process.env, ...env } });
        let stdout = '', stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr, seconds: (performance.now() - t0) / 1000 }));
      }),
    ),
  );
}
