// The order in which a trainer visits its dataset: a fresh seeded shuffle each epoch, with its position
// and generator state saved in checkpoints so a resumed run visits the same examples.
import { SeededRandom } from '../tasks/seeded-random.js';

export interface DataOrderState {
  order: number[];
  random: number;
}

export class DataOrder {
  private order: number[] = [];
  private readonly random: SeededRandom;

  constructor(readonly size: number, seed: number) {
    this.random = new SeededRandom(seed);
  }

  /** The next example's index; reshuffles (Fisher-Yates) when an epoch is used up. */
  next(): number {
    if (this.order.length === 0) {
      const idx = Array.from({ length: this.size }, (_, i) => i);
      for (let i = idx.length - 1; i > 0; i--) {
        const j = Math.floor(this.random.next() * (i + 1));
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
      this.order = idx;
    }
    return this.order.pop()!;
  }

  state(): DataOrderState {
    return { order: [...this.order], random: this.random.getState() };
  }

  /** Restores a state() read back from a checkpoint, refusing one that does not fit this dataset. */
  restore(state: unknown, owner: string, dir: string): void {
    const s = state as Partial<DataOrderState> | null;
    if (!s || !Array.isArray(s.order) || typeof s.random !== 'number' ||
      s.order.some((i) => !Number.isInteger(i) || i < 0 || i >= this.size)) {
      throw new Error(`${owner}.resume: ${dir} has no data-order state for this dataset of ${this.size} examples`);
    }
    this.order = [...s.order];
    this.random.setState(s.random);
  }
}
