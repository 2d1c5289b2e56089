// One run per output folder: two runs writing the same --out would interleave their
// checkpoints and metrics. The lock is a file created exclusively, holding the owner's pid; a
// lock whose process is gone (a crash, SIGKILL) is taken over.
import fs from 'node:fs';
import path from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes `<out>/.hexa-run.lock` or throws naming the run that holds it; returns the release. */
export function acquireRunLock(out: string): () => void {
  const file = path.join(out, '.hexa-run.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => {
        try {
          if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.rmSync(file, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new Error(`${out} is in use by another hexa-torch run (pid ${owner}); choose another --out or stop that run`);
      }
      if (owner === process.pid) throw new Error(`${out} is already in use by a run of this process; choose another --out`);
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new Error(`cannot lock ${out}`);
}
