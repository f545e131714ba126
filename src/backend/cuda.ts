// The CUDA addon (build-cuda/Release/thinkgrad_cuda.node): loads it when built, says why CUDA is not available
// otherwise, and implements the Backend on device buffers: storage here, every other primitive forwarded by
// addon-primitives.ts (a primitive whose entry point the addon lacks throws naming itself). Also the public
// CudaBuffer / cudaGrpo API on raw device buffers.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CudaDTypeCode } from './codes.js';
import type {
  ComputeAddon, CudaAddon, CudaDeviceInfo, GroupAdvantageStats, GrpoLossKernelOptions, GrpoLossKernelResult,
} from '../native-entry-points.js';
import { addonPrimitives } from './addon-primitives.js';
import type { Backend } from './backend.js';

export type { CudaDeviceInfo } from '../native-entry-points.js';

/** What `cudaGrpo.groupAdvantages` returns beside the device buffers it writes (TRL's metrics). */
export interface CudaGroupAdvantageStats extends GroupAdvantageStats {}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

let cached: { addon: CudaAddon | null; reason: string } | null = null;

function load(): { addon: CudaAddon | null; reason: string } {
  if (cached) return cached;
  const paths: string[] = [];
  if (process.env.THINKGRAD_CUDA_PATH) paths.push(resolve(process.env.THINKGRAD_CUDA_PATH));
  for (const config of ['Release', 'Debug']) paths.push(join(packageRoot, 'build-cuda', config, 'thinkgrad_cuda.node'));
  const tried: string[] = [];
  const require = createRequire(import.meta.url);
  for (const p of paths) {
    if (!existsSync(p)) {
      tried.push(`${p} (missing)`);
      continue;
    }
    try {
      const addon = require(p) as CudaAddon;
      const info = addon.deviceInfo();
      cached = { addon, reason: info.available ? '' : info.reason };
      return cached;
    } catch (err) {
      tried.push(`${p} (${(err as Error).message.split('\n')[0]})`);
    }
  }
  cached = {
    addon: null,
    reason: `built without CUDA: install the CUDA toolkit and run npm rebuild (tried ${tried.join('; ')})`,
  };
  return cached;
}

/** Whether the CUDA path can run here, and why not. */
export function cudaAvailable(): { available: boolean; reason: string; device?: CudaDeviceInfo } {
  const { addon, reason } = load();
  if (!addon) return { available: false, reason };
  const device = addon.deviceInfo();
  return { available: device.available, reason: device.reason, device };
}

/** The loaded CUDA addon with a usable device, or one clear error. */
export function cudaAddon(op = 'cuda'): CudaAddon {
  const { addon, reason } = load();
  if (!addon || reason) throw new Error(`thinkgrad.${op}: ${reason}`);
  return addon;
}

export type CudaDType = 'float32' | 'int32' | 'bfloat16';

// Safety net for buffers dropped without dispose(): the device memory goes with the object.
const finalizer = new FinalizationRegistry<number>((id) => {
  cached?.addon?.free(id);
});

/** A device buffer; `dispose()` is idempotent and any later use throws. A buffer that is dropped without
 * `dispose()` is freed when garbage-collected, as tensors are. */
export class CudaBuffer {
  private id: number;
  constructor(readonly numel: number, readonly dtype: CudaDType) {
    this.id = cudaAddon('CudaBuffer').alloc(numel, CudaDTypeCode[dtype]);
    finalizer.register(this, this.id, this);
  }

  static from(data: Float32Array | Int32Array, dtype: CudaDType = data instanceof Int32Array ? 'int32' : 'float32'): CudaBuffer {
    const b = new CudaBuffer(data.length, dtype);
    b.upload(data);
    return b;
  }

  /** @internal The addon's buffer id. */
  get handle(): number {
    if (this.id === 0) throw new Error(`CudaBuffer: ${this.dtype} buffer of ${this.numel} elements has been disposed`);
    return this.id;
  }

  upload(data: Float32Array | Int32Array | Uint16Array, offset = 0): void {
    cudaAddon('upload').upload(this.handle, offset, data);
  }

  /** float32/bfloat16 buffers download as Float32Array, int32 as Int32Array. */
  download(): Float32Array | Int32Array {
    const out = this.dtype === 'int32' ? new Int32Array(this.numel) : new Float32Array(this.numel);
    cudaAddon('download').download(this.handle, 0, out);
    return out;
  }

  dispose(): void {
    if (this.id !== 0) {
      finalizer.unregister(this);
      cudaAddon('free').free(this.id);
    }
    this.id = 0;
  }
}

const h = (b: CudaBuffer | null | undefined): number | null => (b ? b.handle : null);

/** The GRPO kernels on device buffers (same contracts as the CPU primitives in cpu-grpo.ts). */
export const cudaGrpo = {
  selectiveLogSoftmaxForward(lp: CudaBuffer, lse: CudaBuffer, entropy: CudaBuffer | null, logits: CudaBuffer,
    rowStride: number, ids: CudaBuffer, N: number, V: number, temperature: number, offset = 0): void {
    cudaAddon('selectiveLogSoftmax').selectiveLogSoftmax(logits.handle, offset, rowStride, ids.handle, N, V, temperature,
      lp.handle, lse.handle, h(entropy));
  },
  selectiveLogSoftmaxBackward(dlogits: CudaBuffer, logits: CudaBuffer, rowStride: number, ids: CudaBuffer,
    lse: CudaBuffer, glp: CudaBuffer, gent: CudaBuffer | null, entropy: CudaBuffer | null, N: number, V: number,
    temperature: number): void {
    cudaAddon('selectiveLogSoftmaxBackward').selectiveLogSoftmaxBackward(dlogits.handle, 0, rowStride, logits.handle, 0,
      rowStride, ids.handle, lse.handle, glp.handle, h(gent), h(entropy), N, V, temperature);
  },
  grpoLoss(dlp: CudaBuffer | null, lp: CudaBuffer, oldLp: CudaBuffer | null, refLp: CudaBuffer | null, adv: CudaBuffer,
    advPerToken: boolean, mask: CudaBuffer, entropy: CudaBuffer | null, B: number, L: number,
    options: GrpoLossKernelOptions): GrpoLossKernelResult {
    return cudaAddon('grpoLoss').grpoLoss(lp.handle, h(oldLp), h(refLp), adv.handle, advPerToken, mask.handle, h(entropy),
      h(dlp), B, L, options);
  },
  /** Group-normalized advantages (N) of host rewards (N, R; NaN = not scored) written into `advantages` on the
   * device, as `groupAdvantages` computes them on the CPU; `totals` (N) receives the weighted reward sums. */
  groupAdvantages(advantages: CudaBuffer, totals: CudaBuffer | null, rewards: Float32Array, weights: Float32Array,
    N: number, R: number, G: number, scaleRewards: 'group' | 'batch' | 'none' = 'group'): CudaGroupAdvantageStats {
    return cudaAddon('groupAdvantages').groupAdvantages(rewards, weights, N, R, G, scaleRewards, advantages.handle, h(totals));
  },
};

// The addon's compute entry points; one it does not export yet throws one clear error naming it.
function computeEntryPoints(addon: CudaAddon): ComputeAddon {
  return new Proxy(addon as unknown as ComputeAddon, {
    get(target, name, receiver) {
      if (typeof name === 'string' && !(name in target)) {
        return () => {
          throw new Error(`thinkgrad.${name}: not implemented on the cuda backend yet`);
        };
      }
      return Reflect.get(target, name, receiver) as unknown;
    },
  });
}

const packedMatmulAbsent = (primitive: string) => () => {
  throw new Error(`thinkgrad.${primitive}: the cuda backend has no pre-packed GEMM weights (capabilities.packedMatmul is false)`);
};

/** @internal The cuda Backend over the loaded addon; throws the reason when CUDA cannot run here. */
export function createCudaBackend(): Backend {
  const addon = cudaAddon('cuda');
  return {
    device: 'cuda',
    capabilities: { packedMatmul: false, bf16KVCache: true, bf16Logits: true },
    alloc: (numel, dtype) => addon.alloc(numel, CudaDTypeCode[dtype]),
    free: (bufferId) => addon.free(bufferId),
    write: (bufferId, offset, data) => addon.upload(bufferId, offset, data),
    read: (bufferId, offset, out) => addon.download(bufferId, offset, out),
    // The addon's caching allocator keeps freed blocks by size class for reuse in stream order.
    memoryStats: () => addon.stats(),
    resetPeakMemory: () => addon.resetPeak(),
    emptyCache: () => addon.emptyCache(),
    synchronize: () => addon.synchronize(),
    packedMatmulSize: packedMatmulAbsent('packedMatmulSize'),
    packMatmulB: packedMatmulAbsent('packMatmulB'),
    matmulPacked: packedMatmulAbsent('matmulPacked'),
    ...addonPrimitives(computeEntryPoints(addon)),
  };
}
