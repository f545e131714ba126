// Rotary position embedding tables (Hugging Face Llama convention, rotate_half), grown on demand up to
// max_position_embeddings so a 32k-context config does not pay for tables it never reads.
import { rotaryTables } from '../ops/nn.js';
import { keep } from '../autograd/tidy.js';
import type { Device } from '../backend/backend.js';
import { getDefaultDevice } from '../backend/registry.js';
import type { Tensor } from '../tensor.js';

export class RotaryEmbedding {
  private tables: { cos: Tensor; sin: Tensor } | null = null;
  // Outgrown tables stay alive until dispose(): a recorded graph may still read them in backward.
  private retired: Tensor[] = [];
  // Where the model's parameters were made (the default device then), until Module.to moves them.
  private device: Device = getDefaultDevice();

  /** headDim: rotated dims per head (all of them: partial rotary is not supported); base: rope_theta. */
  constructor(readonly headDim: number, readonly base: number, readonly maxPositions: number) {
    if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) throw new RangeError(`RotaryEmbedding: headDim must be an even integer >= 2, got ${headDim}`);
    if (!(base > 0 && Number.isFinite(base))) throw new RangeError(`RotaryEmbedding: base must be a finite number > 0, got ${base}`);
    if (!Number.isInteger(maxPositions) || maxPositions < 1) throw new RangeError(`RotaryEmbedding: maxPositions must be a positive integer, got ${maxPositions}`);
  }

  /** cos/sin tables [P, headDim/2] covering positions [0, needed); P at least `needed`. */
  get(needed: number): { cos: Tensor; sin: Tensor } {
    if (needed > this.maxPositions) {
      throw new RangeError(`RotaryEmbedding: position ${needed - 1} is beyond max_position_embeddings ${this.maxPositions}`);
    }
    if (!this.tables || this.tables.cos.shape[0] < needed) {
      const size = Math.min(this.maxPositions, Math.max(needed, 2 * (this.tables?.cos.shape[0] ?? 2048)));
      if (this.tables) this.retired.push(this.tables.cos, this.tables.sin);
      const t = rotaryTables(size, this.headDim, this.base);
      this.tables = { cos: keep(t.cos), sin: keep(t.sin) };
      this.tables.cos.moveTo_(this.device);
      this.tables.sin.moveTo_(this.device);
    }
    return this.tables;
  }

  /** Keeps the tables on `device` from now on (Module.to). */
  to(device: Device): void {
    this.device = device;
    this.tables?.cos.moveTo_(device);
    this.tables?.sin.moveTo_(device);
  }

  dispose(): void {
    this.tables?.cos.dispose();
    this.tables?.sin.dispose();
    this.tables = null;
    for (const t of this.retired) t.dispose();
    this.retired = [];
  }
}
