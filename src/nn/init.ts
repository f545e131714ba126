// Parameter initialization: normal and uniform draws from the global generator, or uninitialized storage inside
// `withoutInit` (for models whose weights are about to be loaded from a checkpoint).
import { empty, rand, randn } from '../ops/creation.js';
import type { Device } from '../backend/backend.js';
import type { Tensor } from '../tensor.js';

let skip = 0;

/** Runs `fn` with parameter initialization off: layers created inside get uninitialized weights. */
export function withoutInit<T>(fn: () => T): T {
  skip++;
  try {
    return fn();
  } finally {
    skip--;
  }
}

/** A normal(0, std) tensor, or an uninitialized one inside withoutInit. */
export function initNormal(shape: number[], std: number): Tensor {
  return skip > 0 ? empty(shape) : randn(shape, { std });
}

/** A uniform(-bound, bound) tensor on `device`, or an uninitialized one inside withoutInit. */
export function initUniform(shape: number[], bound: number, device?: Device): Tensor {
  return skip > 0 ? empty(shape, { device }) : rand(shape, { low: -bound, high: bound, device });
}
