// Validation of trainer configs given as partial objects (from code or a JSON file): unknown fields,
// wrong types and out-of-range values are rejected with a message naming the field and what it takes.
export type FieldSpec =
  | { kind: 'int'; min?: number; max?: number; nullable?: boolean }
  // exclusiveMax refuses max itself: the range is [min, max).
  | { kind: 'number'; min?: number; max?: number; exclusiveMax?: boolean; nullable?: boolean }
  | { kind: 'bool'; nullable?: boolean }
  | { kind: 'string'; nullable?: boolean }
  | { kind: 'enum'; values: readonly string[]; nullable?: boolean }
  | { kind: 'numbers'; nullable?: boolean }
  // A nested options object (e.g. peftConfig), checked field by field where it is used.
  | { kind: 'object'; nullable?: boolean };

function describe(spec: FieldSpec): string {
  const bounds = spec as { min?: number; max?: number; exclusiveMax?: boolean };
  const range = 'min' in spec || 'max' in spec
    ? ` in [${bounds.min ?? '-inf'}, ${bounds.max ?? 'inf'}${bounds.exclusiveMax ? ')' : ']'}` : '';
  const base = spec.kind === 'enum' ? `one of ${spec.values.map((v) => `'${v}'`).join(', ')}`
    : spec.kind === 'int' ? `an integer${range}` : spec.kind === 'number' ? `a number${range}`
      : spec.kind === 'bool' ? 'true or false' : spec.kind === 'numbers' ? 'an array of numbers' : spec.kind === 'object' ? 'an object' : 'a string';
  return spec.nullable ? `${base} or null` : base;
}

function valid(spec: FieldSpec, v: unknown): boolean {
  if (v === null) return spec.nullable === true;
  switch (spec.kind) {
    case 'int':
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return false;
      if (spec.kind === 'int' && !Number.isInteger(v)) return false;
      const belowMax = spec.max === undefined || (spec.kind === 'number' && spec.exclusiveMax ? v < spec.max : v <= spec.max);
      return (spec.min === undefined || v >= spec.min) && belowMax;
    }
    case 'bool': return typeof v === 'boolean';
    case 'string': return typeof v === 'string';
    case 'enum': return typeof v === 'string' && spec.values.includes(v);
    case 'numbers': return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
    case 'object': return typeof v === 'object' && !Array.isArray(v);
  }
}

/** A step to run up to (a trainer's untilStep): an integer >= 0; Infinity or NaN would loop for ever or never. */
export function checkStepCount(op: string, name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new RangeError(`${op}: ${name} must be an integer >= 0, got ${String(v)}`);
}

/** Merges `given` over `defaults` after checking every given field against `fields`. */
export function checkConfig<C extends object>(owner: string, fields: Record<keyof C, FieldSpec>, defaults: C, given: Partial<C>): C {
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new TypeError(`${owner}: config must be an object`);
  for (const [key, value] of Object.entries(given)) {
    const spec = (fields as Record<string, FieldSpec>)[key];
    if (!spec) {
      const known = Object.keys(fields).join(', ');
      throw new RangeError(`${owner}: unknown config field '${key}' (known fields: ${known})`);
    }
    if (value !== undefined && !valid(spec, value)) {
      throw new RangeError(`${owner}: config field '${key}' must be ${describe(spec)}, got ${JSON.stringify(value)}`);
    }
  }
  const merged = { ...defaults } as Record<string, unknown>;
  for (const [key, value] of Object.entries(given)) if (value !== undefined) merged[key] = value;
  return merged as C;
}
