// Finite-difference gradient checks in float64: the engine's analytic gradients (float32 kernels) are
// compared with central differences of a float64 reference implementation of the same function.
import { expect } from 'vitest';
import { type Tensor, tidy } from '../../src/index.js';
import { expectClose, fromArray, randomArray, type Tolerance } from './reference.js';

export interface GradcheckSpec {
  /** Input values (already float32-representable) and shapes; every input is differentiated. */
  inputs: { values: Float64Array; shape: number[] }[];
  /** The op under test on engine tensors. */
  engine: (xs: Tensor[]) => Tensor;
  /** The same function in plain float64 loops, returning the flat output. */
  reference: (xs: Float64Array[]) => Float64Array;
  /** Central-difference step (default 1e-6: the float64 truncation error is O(h^2) ~ 1e-12). */
  h?: number;
  /** Default atol 1e-4, rtol 1e-3: float32 kernels carry ~1e-6 relative error per op, accumulated over sums. */
  tolerance?: Tolerance;
  seed?: number;
}

/**
 * Checks d(sum(w * f(x)))/dx for random weights w: analytic (engine backward) vs numeric (float64 reference).
 * Also checks the engine's forward output against the reference.
 */
export function gradcheck(spec: GradcheckSpec): void {
  const h = spec.h ?? 1e-6;
  const tol = spec.tolerance ?? { atol: 1e-4, rtol: 1e-3 };
  const refOut = spec.reference(spec.inputs.map((i) => i.values));
  const w = randomArray(refOut.length, spec.seed ?? 7);
  const weighted = (xs: Float64Array[]) => {
    const y = spec.reference(xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * w[i];
    return s;
  };
  const analytic = tidy(() => {
    const xs = spec.inputs.map((i) => fromArray(i.values, i.shape, true));
    const y = spec.engine(xs);
    expect(y.numel, 'engine output size').toBe(refOut.length);
    expectClose(y.data(), refOut, { atol: tol.atol, rtol: tol.rtol }, 'forward');
    const loss = y.mul(fromArray(w, [...y.shape])).sum();
    loss.backward();
    return xs.map((x) => {
      expect(x.grad, 'every input receives a gradient').not.toBeNull();
      return Float64Array.from(x.grad!.data());
    });
  });
  spec.inputs.forEach((input, k) => {
    const numeric = new Float64Array(input.values.length);
    for (let i = 0; i < input.values.length; i++) {
      const xs = spec.inputs.map((j) => Float64Array.from(j.values));
      xs[k][i] = input.values[i] + h;
      const fPlus = weighted(xs);
      xs[k][i] = input.values[i] - h;
      const fMinus = weighted(xs);
      numeric[i] = (fPlus - fMinus) / (2 * h);
    }
    expectClose(analytic[k], numeric, tol, `gradient of input ${k}`);
  });
}
