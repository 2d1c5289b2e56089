// Timing and reporting shared by every benchmark. Rules (torch.utils.benchmark, do_bench):
// warm up first, synchronise before reading the clock (our ops resolve only after the work
// is done, including a CUDA sync when asked), report the median and the IQR, fixed threads.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cuda, info } from '../lib/index.js';
import { pythonEnv } from '../test/support/torch-reference.js';

export interface Timing {
  medianMs: number;
  iqrMs: number;
  samples: number;
  /** interleave(): the median of each round's turn, in round order (NaN: no samples that round). */
  roundMediansMs?: number[];
}

export function summarize(samplesMs: number[]): Timing {
  const s = [...samplesMs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))];
  return { medianMs: q(0.5), iqrMs: q(0.75) - q(0.25), samples: s.length };
}

/**
 * Times an async function: `warmup` untimed runs, then runs until `minMs` and `minIters` are
 * both reached. On a CUDA `device` every run ends with cuda.synchronize() (our ops resolve
 * once their GPU work is queued), as the Python peers call torch.cuda.synchronize().
 * `backToBack: k` times k calls in a row with one synchronize and reports the time per call:
 * the sustained rate of a bandwidth-bound kernel, which one synchronize per call hides behind
 * its round trip on a fast GPU.
 */
export async function time(fn: () => Promise<unknown>, opts: TimeOptions = {}): Promise<Timing> {
  return summarize(await sample(fn, opts));
}

export interface TimeOptions {
  warmup?: number;
  minIters?: number;
  minMs?: number;
  maxIters?: number;
  device?: string;
  backToBack?: number;
}

/** The samples (ms per call) behind time(): for measurements pooled over interleaved rounds. */
export async function sample(fn: () => Promise<unknown>, opts: TimeOptions = {}): Promise<number[]> {
  const { warmup = 3, minIters = 10, minMs = 500, maxIters = 200, backToBack = 1 } = opts;
  // Back to back: every call issued before the first is awaited, as a Python loop issues its
  // launches (our ops run in call order on the compute thread, so the kernels queue on the GPU
  // one after the other). Awaiting each call would time the Promise round trip per call
  // (wake the compute thread, settle on the event loop: tens of µs), not the kernel's
  // sustained rate; the single-call rows time that round trip.
  const calls = backToBack === 1 ? fn : () => Promise.all(Array.from({ length: backToBack }, () => fn()));
  const run = opts.device?.startsWith('cuda') ? async () => (await calls(), await cuda.synchronize()) : calls;
  for (let i = 0; i < warmup; i++) await run();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < maxIters && (samples.length < minIters || performance.now() - start < minMs)) {
    const t0 = performance.now();
    await run();
    samples.push((performance.now() - t0) / backToBack);
  }
  return samples;
}

/**
 * Measurements taken in turns: `rounds` rounds in which every contender times `perRound`
 * calls, one contender at a time, the order rotated each round; the samples of each contender
 * pooled. On a shared machine (a VM whose speed drifts over minutes) every contender then
 * samples the same periods, so the ratios compare the code, not the minute each ran in.
 */
export async function interleave(
  contenders: Array<{ name: string; run: (count: number) => Promise<number[]> }>,
  rounds: number,
  perRound: number,
): Promise<Map<string, Timing>> {
  const pooled = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  const turns = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < contenders.length; i++) {
      const c = contenders[(r + i) % contenders.length];
      const samples = await c.run(perRound);
      pooled.get(c.name)!.push(...samples);
      turns.get(c.name)!.push(samples.length ? summarize(samples).medianMs : NaN);
      // An OpenMP team that just finished spins for a while (libgomp: up to ~300,000 spins)
      // before it sleeps: let it settle before the next contender's clock starts.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return new Map([...pooled].map(([name, samples]) => [name, { ...summarize(samples), roundMediansMs: turns.get(name)! }]));
}

/**
 * Per round, the peer's turn median over ours (rounds where both ran): the same speed-up as the
 * table's, but each from turns minutes apart at most, so the host's slow drift cancels.
 */
export function roundRatios(ours: Timing, peer: Timing): number[] {
  const a = ours.roundMediansMs ?? [], b = peer.roundMediansMs ?? [];
  return a.flatMap((x, r) => (Number.isFinite(x) && Number.isFinite(b[r]) ? [b[r] / x] : []));
}

export interface Row {
  kernel: string;
  shape: string;
  ours: Timing;
  peer?: { name: string; timing: Timing };
  /** Bytes the kernel must read + write at least: for bandwidth-bound kernels. */
  bytes?: number;
}

/** Prints the benchmark table: ours, the peer in the same run, the ratio, GB/s against the ceiling. */
export function printTable(title: string, rows: Row[], copyGBs?: number): void {
  const header = ['kernel', 'shape', 'ours ms (IQR)', 'peer', 'peer ms (IQR)', 'speed-up', 'GB/s', '% of copy BW'];
  const lines = rows.map((r) => {
    const gbs = r.bytes ? r.bytes / (r.ours.medianMs * 1e6) : undefined;
    return [
      r.kernel,
      r.shape,
      `${r.ours.medianMs.toFixed(3)} (${r.ours.iqrMs.toFixed(3)})`,
      r.peer?.name ?? '-',
      r.peer ? `${r.peer.timing.medianMs.toFixed(3)} (${r.peer.timing.iqrMs.toFixed(3)})` : '-',
      r.peer ? `${(r.peer.timing.medianMs / r.ours.medianMs).toFixed(2)}x` : '-',
      gbs ? gbs.toFixed(1) : '-',
      gbs && copyGBs ? `${((100 * gbs) / copyGBs).toFixed(0)}%` : '-',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join(' | ');
  console.log(`\n## ${title}`);
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const l of lines) console.log(fmt(l));
}

/** Device, versions and threads: printed with every result. */
export function environment(): string {
  const i = info();
  const f = i.cpu;
  // "AMD EPYC" is every generation of it: the vector extensions tell the hosts apart.
  const isa = f.arch !== 'x86_64' ? f.arch : f.avx512bf16 || f.amxBf16 ? 'AVX512-BF16' : f.avx512f ? 'AVX512' : f.avx2 ? 'AVX2' : 'SSE';
  const cpu = `${os.cpus()[0]?.model ?? 'unknown CPU'} (${isa}${f.amxBf16 ? ', AMX' : ''})`;
  return `hexa-torch ${i.version} (${i.variant}), LibTorch ${i.libtorch.version}, ${i.threads} threads, ${cpu}, ` +
    `${i.devices.map((d) => d.name ?? d.device).join(', ')}, node ${process.version}`;
}

/** An allocator a PyTorch CPU user may preload: its name for tables and the environment to run with. */
export interface AllocatorEnv {
  name: string;
  env: Record<string, string>;
}

/**
 * The allocators PyTorch's and Intel's CPU performance guides suggest preloading, tcmalloc and
 * jemalloc, from Debian (fetched once with apt-get download, no root, into
 * ~/.cache/hexa-torch/peers); the ones that cannot be fetched are left out with a line on
 * stderr. Which one helps depends on the machine: on our 2-core VMs jemalloc made PyTorch's
 * HEXA_MoCo step 2-3x slower than glibc (4x the page faults, 2026-12-01), so a benchmark runs
 * the peer with each of them and with glibc, and reports against the fastest.
 */
export function preloadAllocators(): AllocatorEnv[] {
  if (process.arch !== 'x64' || process.platform !== 'linux') return [];
  const dir = path.join(os.homedir(), '.cache', 'hexa-torch', 'peers');
  const libDir = path.join(dir, 'usr', 'lib', 'x86_64-linux-gnu');
  const wanted = [
    { name: 'tcmalloc', pkg: 'libtcmalloc-minimal4', lib: 'libtcmalloc_minimal.so.4' },
    { name: 'jemalloc', pkg: 'libjemalloc2', lib: 'libjemalloc.so.2' },
  ];
  const out: AllocatorEnv[] = [];
  for (const { name, pkg, lib } of wanted) {
    const file = path.join(libDir, lib);
    if (!fs.existsSync(file)) {
      fs.mkdirSync(dir, { recursive: true });
      const got = spawnSync('sh', ['-c', `apt-get download ${pkg} >/dev/null 2>&1 && dpkg-deb -x ${pkg}_*.deb . && rm -f ${pkg}_*.deb`], { cwd: dir, timeout: 120_000 });
      if (got.status !== 0 || !fs.existsSync(file)) {
        console.error(`peers: could not fetch Debian's ${pkg}; the ${name} peer is left out`);
        continue;
      }
    }
    out.push({ name, env: { LD_PRELOAD: file } });
  }
  return out;
}

/**
 * Runs a Python peer script (it prints one JSON object on its last line) with the torch
 * the references use, and any extra environment (e.g. an AllocatorEnv's env).
 */
export function runPeer(script: string, args: string[] = [], extraEnv: Record<string, string> = {}): Record<string, unknown> {
  const { python, env: base } = pythonEnv();
  const env = { ...base, ...extraEnv };
  const r = spawnSync(python, [script, ...args], { env, encoding: 'utf8', timeout: 1_800_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`peer ${script} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  const last = r.stdout.trim().split('\n').pop() ?? '{}';
  return JSON.parse(last);
}

/**
 * A Python peer kept running between measurements (its script's `serve` flag): started and
 * warmed up once, then asked for `count` timed calls at a time (one stdin line each, one JSON
 * line back with `times_ms`), so that interleave() can alternate it with ours.
 */
export class PeerProcess {
  private lines: string[] = [];
  private waiting: ((line: string) => void) | null = null;
  private stderr = '';
  private exited: string | null = null;

  private constructor(private readonly child: ChildProcess, private readonly label: string) {
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line.startsWith('{')) continue;  // anything a library prints on stdout
        if (this.waiting) this.waiting(line), (this.waiting = null);
        else this.lines.push(line);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-20_000)));
    child.on('exit', (code, signal) => {
      this.exited = `peer ${label} exited (${code ?? signal}):\n${this.stderr}`;
      if (this.waiting) this.waiting('');
    });
  }

  static async start(script: string, args: string[], extraEnv: Record<string, string> = {}): Promise<PeerProcess> {
    const { python, env: base } = pythonEnv();
    const child = spawn(python, [script, ...args, 'serve'], { env: { ...base, ...extraEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
    const peer = new PeerProcess(child, `${path.basename(script)} ${args.join(' ')}`);
    const ready = JSON.parse(await peer.nextLine()) as { ready?: boolean };
    if (!ready.ready) throw new Error(`peer ${peer.label}: expected a ready line`);
    return peer;
  }

  private nextLine(): Promise<string> {
    if (this.lines.length) return Promise.resolve(this.lines.shift()!);
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      this.waiting = (line) => (this.exited && !line ? reject(new Error(this.exited)) : resolve(line));
    });
  }

  async run(count: number): Promise<number[]> {
    this.child.stdin!.write(`${count}\n`);
    return (JSON.parse(await this.nextLine()) as { times_ms: number[] }).times_ms;
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise((resolve) => this.child.on('exit', resolve));
    this.child.stdin!.end();
    await done;
  }
}

/**
 * Copy bandwidth (read + write) of this machine: LibTorch's copy_ into an existing buffer
 * (no allocation, no page faults), median of repeated copies of `mbytes`, on `device`.
 */
export async function measureCopyBandwidth(device = 'cpu', mbytes = 256): Promise<number> {
  const code = `
import json, sys, time, torch
torch.set_num_threads(2)
dev = sys.argv[1]; n = int(sys.argv[2]) * 2**20 // 4
a = torch.rand(n, device=dev); b = torch.empty_like(a)
sync = torch.cuda.synchronize if dev.startswith('cuda') else (lambda: None)
for _ in range(3): b.copy_(a)
ts = []
for _ in range(15):
    sync(); t = time.perf_counter(); b.copy_(a); sync(); ts.append(time.perf_counter() - t)
ts.sort()
print(json.dumps({'gbs': 2 * 4 * n / ts[len(ts) // 2] / 1e9}))`;
  const { python, env } = pythonEnv();
  const r = spawnSync(python, ['-c', code, device, String(mbytes)], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`measureCopyBandwidth failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!).gbs as number;
}

/** The standalone entry of a benchmark group: environment, copy ceiling, then the group. */
export async function runGroup(benchmark: (opts: { device: 'cpu'; copyGBs: number }) => Promise<unknown>): Promise<void> {
  const device = (process.argv[2] ?? 'cpu') as 'cpu';
  console.log(environment());
  const copyGBs = await measureCopyBandwidth(device);
  console.log(`copy bandwidth: ${copyGBs.toFixed(1)} GB/s`);
  await benchmark({ device, copyGBs });
}
