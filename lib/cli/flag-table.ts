// Commands whose flags are described by a table (name, meaning, default, parser): the parser
// and `--help` read the same table, so the help cannot drift from what is accepted.
export class UsageError extends Error {}

export interface Flag<T = unknown> {
  /** kebab-case, without the dashes. */
  name: string;
  /** What it means (one line). */
  doc: string;
  /** The default as shown in --help. */
  shown: string;
  parse(value: string, flag: string): T;
}

export const number =
  (min: number, max: number, integer = false) =>
  (v: string, flag: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || x < min || x > max || (integer && !Number.isInteger(x))) {
      throw new UsageError(`--${flag} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got '${v}'`);
    }
    return x;
  };

export const text = (v: string): string => v;

export const boolean = (v: string, flag: string): boolean => {
  if (v === 'true' || v === 'on' || v === 'yes') return true;
  if (v === 'false' || v === 'off' || v === 'no') return false;
  throw new UsageError(`--${flag} must be true or false, got '${v}'`);
};

export const list =
  <T>(item: (v: string, flag: string) => T, length?: number) =>
  (v: string, flag: string): T[] => {
    const parts = v.split(',').map((s) => s.trim());
    if (parts.some((p) => p === '') || (length !== undefined && parts.length !== length)) {
      throw new UsageError(`--${flag} must be a comma-separated list${length ? ` of ${length} values` : ''}, got '${v}'`);
    }
    return parts.map((p) => item(p, flag));
  };

export const oneOf =
  <T extends string>(...allowed: T[]) =>
  (v: string, flag: string): T => {
    if (!(allowed as string[]).includes(v)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got '${v}'`);
    return v as T;
  };

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Positional arguments and `--flag value` / `--flag=value` / `--flag` (true) by the table, camelCased. */
export function parseTable(argv: string[], flags: Flag[], command: string): { positional: string[]; values: Record<string, unknown> } {
  const positional: string[] = [];
  const values: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    let [name, value] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const flag = flags.find((f) => f.name === name);
    if (!flag) throw new UsageError(`unknown option --${name} for hexa ${command} (see hexa ${command} --help)`);
    if (value === undefined) value = i + 1 < argv.length && !argv[i + 1].startsWith('--') ? argv[++i] : 'true';
    values[camel(name)] = flag.parse(value, name);
  }
  return { positional, values };
}

/** Help lines: every flag, its meaning and its default. */
export function flagHelp(flags: Array<Pick<Flag, 'name' | 'doc' | 'shown'>>): string {
  const width = Math.min(34, Math.max(...flags.map((f) => f.name.length + 4)));
  return flags
    .map((f) => `  --${f.name.padEnd(width - 2)} ${f.doc}${f.shown === '' ? '' : ` (default: ${f.shown})`}`)
    .join('\n');
}
