// Argument checks for the data layer. Every failure names the function and the argument, says
// what was expected and what was given, in the binding's style:
// "BatchLoader: options.batchSize must be an integer >= 1, got 0".

/** What a value looks like to a user: "-1", "NaN", "a string ('x')", "undefined", "an object". */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return `a string ('${value.length > 40 ? `${value.slice(0, 40)}…` : value}')`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  return 'an object';
}

export function typeError(where: string, name: string, expected: string, got: unknown): TypeError {
  return new TypeError(`${where}: ${name} must be ${expected}, got ${describe(got)}`);
}
export function rangeError(where: string, name: string, expected: string, got: unknown): RangeError {
  return new RangeError(`${where}: ${name} must be ${expected}, got ${describe(got)}`);
}

/** An integer in [min, max]; a non-number is a TypeError, anything else out of place a RangeError. */
export function checkInteger(where: string, name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') throw typeError(where, name, 'an integer', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw rangeError(where, name, `an integer ${range}`, value);
  }
  return value;
}

export function checkBoolean(where: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw typeError(where, name, 'a boolean', value);
  return value;
}

export function checkString(where: string, name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw typeError(where, name, 'a non-empty string', value);
  return value;
}

export function checkChoice<T extends string>(where: string, name: string, value: unknown, allowed: readonly T[]): T {
  const list = allowed.map((a) => `'${a}'`).join(' or ');
  if (typeof value !== 'string') throw typeError(where, name, list, value);
  if (!(allowed as readonly string[]).includes(value)) throw rangeError(where, name, list, value);
  return value as T;
}

/** undefined or a plain object: the options argument of a function. */
export function checkOptions<T extends object>(where: string, name: string, value: unknown): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw typeError(where, name, 'an options object', value);
  return value as Partial<T>;
}

/**
 * A non-empty list of dataset indices (an array or typed array of integers in [0, size)),
 * copied so the caller may change its array while a batch loads.
 */
export function checkIndices(where: string, indices: unknown, size: number): Uint32Array {
  const isList = Array.isArray(indices) || (ArrayBuffer.isView(indices) && !(indices instanceof DataView));
  if (!isList) throw typeError(where, 'indices', 'an array or typed array of integers', indices);
  const list = indices as ArrayLike<unknown>;
  if (list.length === 0) throw new RangeError(`${where}: indices must not be empty`);
  const out = new Uint32Array(list.length);
  for (let k = 0; k < list.length; k++) {
    const i = list[k];
    if (typeof i !== 'number') throw typeError(where, `indices[${k}]`, 'an integer', i);
    if (!Number.isInteger(i) || i < 0 || i >= size) throw rangeError(where, `indices[${k}]`, `an integer in [0, ${size - 1}]`, i);
    out[k] = i;
  }
  return out;
}
