// Gradient checkpointing (torch.utils.checkpoint with use_reentrant=False): a function's forward runs without
// recording and keeps only the tensors it read from outside; backward runs it again with recording on and
// back-propagates through the recomputation. One more forward buys back the function's activations.
// NOTE: it sits above tensor.ts (like the creation functions) because it replays the process-wide generator.
import { defaultGenerator } from '../ops/creation.js';
import { formatShape, isTensor } from '../tensor-util.js';
import type { Tensor } from '../tensor.js';
import { gradients } from './engine.js';
import { record, traceRecords } from './function.js';
import { enableGrad, isGradEnabled } from './grad-mode.js';
import { tensorsIn, tidy } from './tidy.js';

/**
 * `fn(...inputs)`, without keeping its intermediate tensors for backward: they are recomputed when the gradient
 * reaches the result (PyTorch's `torch.utils.checkpoint.checkpoint(fn, *inputs, use_reentrant=False)`).
 *
 * - Gradients flow to every tensor fn reads that requires grad: the inputs, and tensors it reaches otherwise
 *   (a module's parameters), found by watching the ops fn runs; inputs that do not require grad get none.
 * - The forward keeps the tensors fn read and those among the inputs (in arrays and plain objects too), so
 *   `tidy` keeps them for a later `backward()`; never fn's intermediates. Those of the recomputation are freed
 *   once its gradients are out.
 * - The recomputation draws the same random numbers as the forward did: the process-wide generator is set
 *   to its state at the forward and restored afterwards (torch's `preserve_rng_state`). A function drawing from
 *   its own `RandomGenerator` must restore it likewise.
 * - With recording off (`noGrad`) it is plain `fn(...inputs)`.
 *
 * fn must return one tensor and compute the same thing again: it must not change state it reads (a KV cache)
 * nor the inputs in place before backward.
 */
export function checkpoint<A extends unknown[]>(fn: (...inputs: A) => Tensor, ...inputs: A): Tensor {
  if (typeof fn !== 'function') throw new TypeError(`checkpoint: fn must be a function, got ${fn === null ? 'null' : typeof fn}`);
  if (!isGradEnabled()) return fn(...inputs);
  const rngState = defaultGenerator.getState();
  const read = new Set<Tensor>();
  // A fresh view is the result even when fn returns a tensor it was given: the node must not land on that.
  const output = tidy(() => {
    const out = traceRecords(() => fn(...inputs), (tensors) => {
      for (const t of tensors) read.add(t);
    });
    if (!isTensor(out)) throw new TypeError(`checkpoint: fn must return a Tensor, got ${out === null ? 'null' : typeof out}`);
    return out.makeView(out.shape, out.strides, out.offset);
  });
  // fn's own tensors were freed by tidy; what is still alive came from outside.
  const outside = [...new Set([...[...read].filter((t) => !t.isDisposed), ...tensorsIn(inputs)])];
  const targets = outside.filter((t) => t.requiresGrad);
  const saved = outside.filter((t) => !t.requiresGrad);
  const shape = output.shape;
  return record('checkpoint', targets, output, (g) => {
    const current = defaultGenerator.getState();
    defaultGenerator.setState(rngState);
    try {
      return tidy(() => {
        const out = enableGrad(() => fn(...inputs));
        if (!isTensor(out) || out.shape.join() !== shape.join()) {
          throw new Error(`checkpoint: the recomputation returned ${isTensor(out) ? formatShape(out.shape) : typeof out}, ` +
            `the forward ${formatShape(shape)} (fn must compute the same thing again)`);
        }
        return out.requiresGrad ? gradients(out, g, targets) : targets.map(() => null);
      });
    } finally {
      defaultGenerator.setState(current);
    }
  }, saved);
}
