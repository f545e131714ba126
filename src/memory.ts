// Memory accounting: live tensor objects and the CPU allocator's bytes (through the CPU backend), and the CPU
// engine's thread count.
import { cpuThreads, setCpuThreads } from './backend/cpu.js';
import { getBackend } from './backend/registry.js';
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
  const s = getBackend('cpu').memoryStats();
  return { numTensors: tensorCount(), numBuffers: s.liveBuffers, numBytes: s.liveBytes, cachedBytes: s.cachedBytes, peakBytes: s.peakBytes };
}

export function resetPeakMemory(): void {
  getBackend('cpu').resetPeakMemory();
}

/** Returns cached blocks to the system. */
export function emptyCache(): void {
  getBackend('cpu').emptyCache();
}

/**
 * Threads the CPU kernels use (default: CPUs available, or THINKGRAD_NUM_THREADS), an integer in [1, 1024].
 * More threads than CPUs warns once per process.
 */
export function setNumThreads(n: number): void {
  setCpuThreads(n);
}

export function getNumThreads(): number {
  return cpuThreads();
}
