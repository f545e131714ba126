// Memory accounting: live tensor objects and the native allocator's bytes.
import { native, warnIfOversubscribed } from './native.js';
import { tensorCount } from './tensor.js';

export interface MemoryInfo {
  /** Tensor objects not yet disposed or collected. */
  numTensors: number;
  /** Native buffers alive (shared by views). */
  numBuffers: number;
  /** Bytes held by live buffers. */
  numBytes: number;
  /** Bytes of freed blocks kept for reuse. */
  cachedBytes: number;
  /** Highest numBytes since the last resetPeakMemory(). */
  peakBytes: number;
}

export function memory(): MemoryInfo {
  const s = native.stats();
  return { numTensors: tensorCount(), numBuffers: s.liveBuffers, numBytes: s.liveBytes, cachedBytes: s.cachedBytes, peakBytes: s.peakBytes };
}

export function resetPeakMemory(): void {
  native.resetPeak();
}

/** Returns cached blocks to the system. */
export function emptyCache(): void {
  native.emptyCache();
}

/**
 * Threads the CPU kernels use (default: CPUs available, or THINKGRAD_NUM_THREADS), an integer in [1, 1024].
 * More threads than CPUs warns once per process.
 */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
  warnIfOversubscribed('setNumThreads');
}

export function getNumThreads(): number {
  return native.numThreads();
}
