// The config's check vocabulary: each Check validates one value (a flag's string or a config
// file's value) and returns it typed, or throws a ConfigError naming the key and what it wanted.

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates `v` for `key`; sections also get the value earlier layers set, to merge over. */
export type Check = (v: unknown, key: string, previous?: object) => unknown;

export const fail = (key: string, expected: string, got: unknown): never => {
  throw new ConfigError(`${key} must be ${expected}, got ${typeof got === 'string' ? `'${got}'` : JSON.stringify(got)}`);
};

export const num = (lo: number, hi: number, int = false): Check => (v, key) => {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < lo || n > hi || (int && !Number.isInteger(n)))
    fail(key, `${int ? 'an integer' : 'a number'} in [${lo}, ${hi}]`, v);
  return n;
};

/** A list of numbers each in [lo, hi] (from a flag: comma-separated), `count` long when given. */
export const numList = (lo: number, hi: number, int: boolean, count?: number): Check => (v, key) => {
  const items = typeof v === 'string' ? v.split(',').map((x) => x.trim()) : typeof v === 'number' ? [v] : v;
  const what = `${count ? `${count}` : 'a list of'} ${int ? 'integers' : 'numbers'} in [${lo}, ${hi}]${typeof v === 'string' ? ' (comma-separated)' : ''}`;
  if (!Array.isArray(items) || items.length === 0 || (count !== undefined && items.length !== count)) return fail(key, what, v);
  return items.map((x, i) => num(lo, hi, int)(x, `${key}[${i}]`));
};

/** [min, max] with min <= max, both in [lo, hi]. */
export const numPair = (lo: number, hi: number): Check => (v, key) => {
  const [a, b] = numList(lo, hi, false, 2)(v, key) as number[];
  if (a > b) fail(key, `[min, max] with min <= max`, v);
  return [a, b];
};

export const bool: Check = (v, key) => (v === true || v === 'true' ? true : v === false || v === 'false' ? false : fail(key, 'true or false', v));
export const oneOf = (...xs: string[]): Check => (v, key) => (typeof v === 'string' && xs.includes(v) ? v : fail(key, `one of ${xs.map((x) => `'${x}'`).join(', ')}`, v));
export const str: Check = (v, key) => (typeof v === 'string' && v.length > 0 ? v : fail(key, 'a non-empty string', v));

/**
 * A nested section: an object whose keys are checked one by one and merged over what earlier
 * layers set (or `fallback`). `nullable` sections also take null / false / 'off' (switched off).
 */
export function section<T extends object>(checks: Record<keyof T, Check>, nullable: boolean, fallback?: T): Check {
  return (v, key, previous) => {
    if (nullable && (v === null || v === false || v === 'off')) return null;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(key, nullable ? 'an object or null' : 'an object', v);
    const out = { ...(previous ?? fallback ?? {}) } as Record<string, unknown>;
    for (const [k, x] of Object.entries(v as object)) {
      const check = (checks as Record<string, Check>)[k];
      if (!check) throw new ConfigError(`unknown key ${key}.${k} (known: ${Object.keys(checks).join(', ')})`);
      if (x === undefined) continue;
      out[k] = check(x, `${key}.${k}`);
    }
    return out;
  };
}
