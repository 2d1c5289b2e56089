// Starts the local workers of a data-parallel run and supervises them, as torchrun does:
// each worker is this Node with the same script and arguments, told its place in the world
// through RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT. Rank 0's
// output passes through; the others' lines are prefixed with their rank. When a worker
// fails, the rest get `graceSeconds` to stop on their own (they see the broken collective and
// say so), then SIGTERM, then SIGKILL. SIGINT/SIGTERM on the launcher go to every worker
// (their own process groups: a terminal's Ctrl-C reaches them once, through here).
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';

export interface LaunchOptions {
  /** Worker processes on this node. */
  nproc: number;
  nnodes?: number;
  /** This node's index in [0, nnodes). */
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
  /** What each worker runs: node <execArgv> script ...args. */
  script: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** After the first failure, how long the others may take to stop on their own (default 30 s). */
  graceSeconds?: number;
  /** Where the workers' output goes (default: this process's stdout/stderr). */
  onLine?: (rank: number, stream: 'stdout' | 'stderr', line: string) => void;
}

export interface LaunchResult {
  /** 0 when every worker exited 0; else the first failure's code (128 + signal number for a signal). */
  code: number;
  /** The rank that failed first, and how. */
  failedRank?: number;
  failure?: string;
  /** Each local worker's exit: code or signal name. */
  exits: Array<{ rank: number; code: number | null; signal: NodeJS.Signals | null }>;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6, SIGHUP: 1 };

/** Starts the workers and resolves when all of them have exited. */
export function launch(o: LaunchOptions): Promise<LaunchResult> {
  const nnodes = o.nnodes ?? 1;
  const nodeRank = o.nodeRank ?? 0;
  if (!Number.isInteger(o.nproc) || o.nproc < 1) throw new RangeError(`launch: nproc must be an integer >= 1, got ${o.nproc}`);
  if (!Number.isInteger(nnodes) || nnodes < 1) throw new RangeError(`launch: nnodes must be an integer >= 1, got ${nnodes}`);
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes) throw new RangeError(`launch: nodeRank must be an integer in [0, ${nnodes}), got ${nodeRank}`);
  const masterPort = o.masterPort ?? 29500;
  if (!Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535) throw new RangeError(`launch: masterPort must be an integer in [1, 65535], got ${masterPort}`);
  const masterAddr = o.masterAddr ?? '127.0.0.1';
  const worldSize = nnodes * o.nproc;
  const grace = (o.graceSeconds ?? 30) * 1000;
  const write = o.onLine ?? ((rank, stream, line) => (stream === 'stdout' ? process.stdout : process.stderr).write(`${rank === 0 ? '' : `[rank ${rank}] `}${line}\n`));

  return new Promise((resolve) => {
    const children: Array<{ rank: number; child: ChildProcess; exited: boolean }> = [];
    const exits: LaunchResult['exits'] = [];
    let failure: { rank: number; text: string; code: number } | null = null;
    let killTimer: NodeJS.Timeout | null = null;
    const signalAll = (signal: NodeJS.Signals) => {
      for (const c of children) if (!c.exited && c.child.pid) try { process.kill(-c.child.pid, signal); } catch {}
    };
    const stopOthers = () => {
      if (killTimer) return;
      killTimer = setTimeout(() => {
        signalAll('SIGTERM');
        killTimer = setTimeout(() => signalAll('SIGKILL'), 5000);
        killTimer.unref();
      }, grace);
      killTimer.unref();
    };
    // An interrupt is passed on (the workers save a checkpoint and stop); their exits are then
    // the answer to it, not failures.
    let interrupted = false;
    const onSignal = (signal: NodeJS.Signals) => {
      interrupted = true;
      signalAll(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    for (let local = 0; local < o.nproc; local++) {
      const rank = nodeRank * o.nproc + local;
      const env = {
        ...process.env, ...o.env,
        RANK: String(rank), WORLD_SIZE: String(worldSize), LOCAL_RANK: String(local), LOCAL_WORLD_SIZE: String(o.nproc),
        GROUP_RANK: String(nodeRank), MASTER_ADDR: masterAddr, MASTER_PORT: String(masterPort), HEXA_LAUNCHER_PID: String(process.pid),
      };
      const child = spawn(process.execPath, [...process.execArgv, o.script, ...o.args], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      const entry = { rank, child, exited: false };
      children.push(entry);
      for (const stream of ['stdout', 'stderr'] as const) {
        readline.createInterface({ input: child[stream]!, crlfDelay: Infinity }).on('line', (line) => write(rank, stream, line));
      }
      child.on('exit', (code, signal) => {
        entry.exited = true;
        exits.push({ rank, code, signal });
        if ((code !== 0 || signal) && !failure && !interrupted) {
          const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
          failure = { rank, text: `rank ${rank} ${how}`, code: signal ? 128 + (SIGNAL_NUMBERS[signal] ?? 1) : code! };
          if (children.some((c) => !c.exited)) write(rank, 'stderr', `hexa: rank ${rank} ${how}; the other ranks stop (within the collective timeout, SIGTERM after ${grace / 1000} s)`);
          stopOthers();
        }
        if (children.every((c) => c.exited) && exits.length === o.nproc) {
          // All exited (the streams may still flush a few lines).
          if (killTimer) clearTimeout(killTimer);
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          const f = failure as { rank: number; text: string; code: number } | null;
          const worst = Math.max(0, ...exits.map((e) => (e.signal ? 128 + (SIGNAL_NUMBERS[e.signal] ?? 1) : e.code ?? 1)));
          resolve({ code: f ? f.code : worst, failedRank: f?.rank, failure: f?.text, exits: exits.sort((a, b) => a.rank - b.rank) });
        }
      });
    }
  });
}

/**
 * In a worker started by launch(): exits when the launcher is gone (killed without a chance to
 * stop its workers), so no orphan keeps training. A no-op elsewhere.
 */
export function exitWithLauncher(): void {
  const pid = Number(process.env.HEXA_LAUNCHER_PID);
  if (!pid) return;
  const timer = setInterval(() => {
    if (process.ppid !== pid) {
      process.stderr.write(`hexa: rank ${process.env.RANK}: the launcher (pid ${pid}) is gone; stopping\n`);
      process.exit(1);
    }
  }, 1000);
  timer.unref();
}

export interface LaunchFlags {
  nproc: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
}

const LAUNCH_FLAGS = ['nproc', 'nnodes', 'node-rank', 'master-addr', 'master-port'];

/**
 * Takes torchrun's flags (--nproc, --nnodes, --node-rank, --master-addr, --master-port) out of a
 * command line: the launch they ask for (null when --nproc is absent) and the other arguments.
 */
export function splitLaunchFlags(argv: string[]): { launch: LaunchFlags | null; rest: string[] } {
  const rest: string[] = [];
  const got: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(argv[i]);
    if (!m || !LAUNCH_FLAGS.includes(m[1])) {
      rest.push(argv[i]);
      continue;
    }
    const value = m[2] ?? (i + 1 < argv.length && !argv[i + 1].startsWith('--') ? argv[++i] : undefined);
    if (value === undefined) throw new RangeError(`--${m[1]} needs a value`);
    got[m[1]] = value;
  }
  const int = (flag: string, dflt: number | null, min: number, max: number): number => {
    const raw = got[flag];
    if (raw === undefined) {
      if (dflt === null) throw new RangeError(`--${flag} is needed with --nnodes > 1`);
      return dflt;
    }
    const v = Number(raw);
    if (!/^\d+$/.test(raw) || v < min || v > max) throw new RangeError(`--${flag} must be an integer in [${min}, ${max}], got '${raw}'`);
    return v;
  };
  if (got.nproc === undefined) {
    const stray = Object.keys(got);
    if (stray.length) throw new RangeError(`--${stray[0]} goes with --nproc N (the workers to start on this node)`);
    return { launch: null, rest };
  }
  const nproc = int('nproc', null, 1, 4096);
  const nnodes = int('nnodes', 1, 1, 1 << 16);
  const nodeRank = int('node-rank', nnodes > 1 ? null : 0, 0, nnodes - 1);
  const masterAddr = got['master-addr'] ?? (nnodes > 1 ? undefined : '127.0.0.1');
  if (!masterAddr) throw new RangeError('--master-addr is needed with --nnodes > 1 (the host of node 0)');
  return { launch: { nproc, nnodes, nodeRank, masterAddr, masterPort: int('master-port', 29500, 1, 65535) }, rest };
}
