// Reading data files whole and checking them against known sizes and MD5 sums.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';

export interface ExpectedFile {
  /** Path of the file. */
  path: string;
  bytes: number;
  /** Lower-case hex MD5, or null to check the size only. */
  md5: string | null;
}

export function md5(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

/**
 * Reads a whole file after checking its size, then checks its MD5. `hint` ends every message
 * (what to do about it). The stat first keeps a wrong file from being read whole for nothing.
 */
export async function readVerified(where: string, file: ExpectedFile, hint: string): Promise<Buffer> {
  let size: number;
  try {
    const s = await stat(file.path);
    if (!s.isFile()) throw new Error(`${where}: ${file.path} is not a file. ${hint}`);
    size = s.size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${where}: ${file.path} is missing. ${hint}`);
    throw e;
  }
  if (size !== file.bytes) {
    throw new Error(`${where}: ${file.path} has ${size} bytes, expected ${file.bytes}: the file is truncated or not the right one. ${hint}`);
  }
  const data = await readFile(file.path);
  if (file.md5 !== null) {
    const sum = md5(data);
    if (sum !== file.md5) throw new Error(`${where}: ${file.path} has MD5 ${sum}, expected ${file.md5}: the file is corrupt. ${hint}`);
  }
  return data;
}
