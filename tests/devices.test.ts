// Device tensors (issue 12 §2), one body per device tensors can be stored on (cpu; cuda on a real device or the
// emulator): creation, to()/roundtrips, Module.to with optimizers, cross-device errors, memory accounting per
// device, emptyCache and the finalizer safety net.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { cudaDevice, forEachDevice, storageDevices } from './helpers/devices.js';
import * as tg from '../src/index.js';
import type { Device } from '../src/backend/backend.js';
import { expectClose, randomArray } from './helpers/reference.js';

const other = (d: Device): Device => (d === 'cpu' ? 'cuda' : 'cpu');
const bytesOn = (d: Device) => tg.memory().devices[d]!.numBytes;

forEachDevice((device) => describe(`device tensors on ${device}`, () => {
  it('tensor(data, shape, { device }) stores there; data(), toArray() and item() copy back', () => {
    const f = tg.tensor([1.5, -2, 3.25, 4, 5, 6], [2, 3], { device });
    const i = tg.tensor([7, -8, 2147483647], [3], { device, dtype: 'int32' });
    expect(f.device).toBe(device);
    expect(i.device).toBe(device);
    expect(f.data()).toEqual(Float32Array.from([1.5, -2, 3.25, 4, 5, 6]));
    expect(f.toArray()).toEqual([[1.5, -2, 3.25], [4, 5, 6]]);
    expect(i.data()).toEqual(Int32Array.from([7, -8, 2147483647]));
    const s = tg.tensor([42], [], { device });
    expect(s.item()).toBe(42);
    for (const t of [f, i, s]) t.dispose();
  });

  it('setDefaultDevice puts tensors created without a device there; an explicit device and views of tensors stay put', () => {
    const before = tg.getDefaultDevice();
    try {
      tg.setDefaultDevice(device);
      expect(tg.getDefaultDevice()).toBe(device);
      const made = [tg.tensor([1, 2], [2]), tg.empty([3])];
      for (const t of made) expect(t.device).toBe(device);
      for (const to of storageDevices) {
        const explicit = tg.tensor([1, 2, 3], [3], { device: to });
        const moved = explicit.to(device === to ? other(to) === 'cuda' && !cudaDevice.available ? to : other(to) : device);
        expect(explicit.device).toBe(to);
        expect(moved.reshape([1, 3]).device).toBe(moved.device);
        explicit.dispose();
        if (moved !== explicit) moved.dispose();
      }
      for (const t of made) t.dispose();
      expect(() => tg.setDefaultDevice('tpu' as Device)).toThrow(/unknown device 'tpu'/);
      expect(tg.getDefaultDevice()).toBe(device);
    } finally {
      tg.setDefaultDevice(before);
    }
  });

  it("to(the same device) is the tensor itself; to('cpu') of every device equals the source", () => {
    const x = tg.tensor(Array.from(randomArray(12, 1)), [3, 4], { device });
    expect(x.to(device)).toBe(x);
    const c = x.to('cpu');
    expect(c.device).toBe('cpu');
    expect(c.data()).toEqual(x.data());
    if (c !== x) c.dispose();
    x.dispose();
  });

  it('float32 and int32 roundtrip through every other device exactly (non-contiguous sources too)', () => {
    for (const to of storageDevices) {
      const values = Array.from(randomArray(24, 2, 3));
      const x = tg.tensor(values, [4, 6], { device });
      const ints = tg.tensor(Array.from({ length: 6 }, (_, k) => k * 1000003 - 7), [6], { device, dtype: 'int32' });
      const y = x.to(to), yi = ints.to(to);
      expect(y.device).toBe(to);
      expect(y.dtype).toBe('float32');
      expect(yi.dtype).toBe('int32');
      const back = y.to(device), backI = yi.to(device);
      expect(back.data()).toEqual(Float32Array.from(values));
      expect(backI.data()).toEqual(ints.data());
      for (const t of new Set([x, ints, y, yi, back, backI])) t.dispose();
    }
    // A strided cpu view reaches the device in row-major order.
    const base = tg.tensor(Array.from(randomArray(12, 3)), [3, 4]);
    const view = base.transpose(0, 1);
    const moved = view.to(device);
    expect(moved.shape).toEqual([4, 3]);
    expect(moved.data()).toEqual(view.data());
    for (const t of new Set([base, view, moved])) t.dispose();
  });

  it('memory() counts device bytes going up and back down; peak and emptyCache', () => {
    tg.resetPeakMemory();
    const before = bytesOn(device);
    const ts = Array.from({ length: 4 }, () => tg.tensor(new Float32Array(1000), [1000], { device }));
    expect(bytesOn(device)).toBe(before + 4 * 4000);
    expect(tg.memory().devices[device]!.numBuffers).toBeGreaterThanOrEqual(4);
    expect(tg.memory().devices[device]!.peakBytes).toBeGreaterThanOrEqual(before + 16000);
    for (const t of ts) t.dispose();
    expect(bytesOn(device)).toBe(before);
    tg.synchronize(device);
    tg.synchronize();
    tg.emptyCache();
    expect(tg.memory().devices[device]!.cachedBytes).toBe(0);
    expect(tg.memory().numBytes).toBe(tg.memory().devices.cpu!.numBytes);
  });

  it('freed blocks are cached and reused by the next allocation of their size; emptyCache returns them', () => {
    const mem = () => tg.memory().devices[device]!;
    tg.emptyCache();
    expect(mem().cachedBytes).toBe(0);
    const a = Array.from({ length: 3 }, () => tg.tensor(new Float32Array(3000), [3000], { device }));
    for (const t of a) t.dispose();
    const cached = mem().cachedBytes;
    expect(cached).toBeGreaterThanOrEqual(3 * 12000);
    const b = Array.from({ length: 3 }, () => tg.tensor(new Float32Array(3000), [3000], { device }));
    expect(mem().cachedBytes).toBeLessThanOrEqual(cached - 3 * 12000);
    for (const t of b) t.dispose();
    expect(mem().cachedBytes).toBe(cached);
    tg.emptyCache();
    expect(mem().cachedBytes).toBe(0);
    const c = tg.tensor([1, 2, 3], [3], { device });
    expect(c.data()).toEqual(Float32Array.from([1, 2, 3]));
    c.dispose();
  });

  it('a device tensor dropped without dispose() returns its memory when garbage-collected', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const settle = async () => {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    };
    await settle(); // earlier tests' dropped tensors go first
    const before = bytesOn(device);
    (() => {
      for (let i = 0; i < 20; i++) tg.tensor(new Float32Array(256), [256], { device });
    })();
    expect(bytesOn(device)).toBe(before + 20 * 1024);
    for (let round = 0; round < 20 && bytesOn(device) > before; round++) await settle();
    expect(bytesOn(device)).toBe(before);
  });
}));

describe.skipIf(!cudaDevice.available)('two devices', () => {
  it('an op on tensors of two devices throws a TypeError naming the op and both devices', () => {
    const a = tg.tensor([1, 2, 3], [3]);
    const b = tg.tensor([1, 2, 3], [3], { device: 'cuda' });
    const ids = tg.tensor([0, 1], [2], { dtype: 'int32', device: 'cuda' });
    const w = tg.tensor(Array.from(randomArray(6, 4)), [3, 2]);
    expect(() => tg.add(a, b)).toThrow(TypeError);
    expect(() => tg.add(a, b)).toThrow('add: tensors on different devices (cpu, cuda)');
    expect(() => tg.mul(b, a)).toThrow('mul: tensors on different devices (cuda, cpu)');
    expect(() => tg.matmul(a.reshape(1, 3), w.to('cuda'))).toThrow(/matmul: .*cpu, cuda/);
    expect(() => tg.indexSelect(w, 0, ids)).toThrow('indexSelect: tensors on different devices (cpu, cuda)');
    expect(() => tg.where(a, a, b)).toThrow('where: tensors on different devices (cpu, cuda)');
    expect(() => tg.cat([a, b])).toThrow('cat: tensors on different devices (cpu, cuda)');
    const logits = tg.tensor(Array.from(randomArray(6, 5)), [2, 3]);
    expect(() => tg.selectiveLogSoftmax(logits, ids)).toThrow(/selectiveLogSoftmax: tensors on different devices \(cpu, cuda\)/);
    const lp = tg.tensor([-1, -2], [1, 2], { device: 'cuda' });
    expect(() => tg.grpoLoss(lp, { advantages: tg.tensor([1], [1]), mask: tg.tensor([1, 1], [1, 2], { device: 'cuda' }) }))
      .toThrow(/grpoLoss: tensors on different devices \(cuda, cpu\)/);
    tg.tidy(() => {
      for (const t of [a, b, ids, w]) t.dispose();
    });
  });

  it('to(device) is differentiable: the gradient comes back to the source device', () => {
    const x = tg.tensor([1, 2, 3], [3], { device: 'cuda' }).requiresGrad_();
    const y = x.to('cpu');
    y.mul(2).sum().backward();
    expect(x.grad!.device).toBe('cuda');
    expect(x.grad!.data()).toEqual(Float32Array.from([2, 2, 2]));
    x.dispose();
    y.dispose();
  });

  it('Module.to moves parameters and buffers in place; a forward back on the cpu still equals; the optimizer keeps its parameters and its state follows them', () => {
    tg.manualSeed(5);
    const config = new tg.nn.LlamaConfig({ vocabSize: 17, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1,
      numAttentionHeads: 2, numKeyValueHeads: 1, maxPositionEmbeddings: 32 });
    const model = new tg.nn.LlamaForCausalLM(config);
    const ids = tg.tensor([[1, 2, 3, 4]], [1, 4], { dtype: 'int32' });
    const x0 = ids;
    const params = model.parameters();
    const opt = new tg.optim.AdamW(params, { lr: 1e-2 });
    const step = () => tg.tidy(() => {
      const loss = tg.sum(model.forward(ids));
      loss.backward();
      opt.step();
      model.zeroGrad();
    });
    step();
    const expected = tg.tidy(() => model.forward(ids).data());
    const cpuBytes = tg.memory().devices.cpu!.numBytes;
    const cudaBytes = bytesOn('cuda');
    expect(model.device).toBe('cpu');
    expect(model.to('cuda')).toBe(model);
    expect(model.device).toBe('cuda');
    expect(new tg.nn.Module().device).toBe('cpu');
    expect(model.parameters()).toEqual(params);
    for (const p of params) {
      expect(p.device).toBe('cuda');
      expect(p.requiresGrad).toBe(true);
    }
    const moved = params.reduce((n, p) => n + 4 * p.numel, 0);
    expect(bytesOn('cuda')).toBeGreaterThanOrEqual(cudaBytes + moved);
    expect(tg.memory().devices.cpu!.numBytes).toBeLessThanOrEqual(cpuBytes - moved);
    // A cpu input against cuda weights names both devices.
    expect(() => model.forward(ids)).toThrow(/different devices \((cpu, cuda|cuda, cpu)\)/);
    model.to('cpu');
    for (const p of params) expect(p.device).toBe('cpu');
    expect(bytesOn('cuda')).toBe(cudaBytes);
    expectClose(tg.tidy(() => model.forward(ids).data()), expected, { atol: 0, rtol: 0 });
    // The state made on the cpu is still the parameters' (a step after the roundtrip works and moves nothing).
    const state = opt.stateDict().state;
    expect(Object.keys(state).length).toBe(params.length);
    step();
    for (const s of Object.values(opt.stateDict().state)) expect((s.expAvg as tg.Tensor).device).toBe('cpu');
    // Gradients move with their parameters, and the optimizer's state follows them at its next step, which runs on
    // cuda: the same numbers as the step on the cpu (the AdamW kernels share their per-element math).
    tg.tidy(() => tg.sum(model.forward(ids)).backward());
    const cpuStepped = tg.tidy(() => {
      const clones = params.map((p) => tg.keep(p.detach().clone()));
      const states = Object.values(opt.stateDict().state);
      tg.adamwStep(clones[0], params[0].grad!, tg.keep((states[0].expAvg as tg.Tensor).clone()),
        tg.keep((states[0].expAvgSq as tg.Tensor).clone()), { lr: 1e-2, step: 3 });
      return clones[0];
    });
    model.to('cuda');
    for (const p of params) expect(p.grad!.device).toBe('cuda');
    opt.step();
    const first = opt.stateDict().state['0'];
    expect((first.expAvg as tg.Tensor).device).toBe('cuda');
    expect(first.step).toBe(3);
    expect(Array.from(params[0].data())).toEqual(Array.from(cpuStepped.data()));
    model.to('cpu');
    opt.step();
    for (const s of Object.values(opt.stateDict().state)) expect((s.expAvgSq as tg.Tensor).device).toBe('cpu');
    expect(opt.stateDict().state['0'].step).toBe(4);
    expect(() => x0.to('gpu' as tg.DType)).toThrow(/unsupported dtype gpu/);
    opt.dispose?.();
    model.dispose();
    ids.dispose();
  });
});

describe.skipIf(!cudaDevice.available)('device out of memory', () => {
  it('a tensor larger than the device is a RangeError naming the op and the bytes; the device works after it', () => {
    const total = tg.cudaAvailable().device!.totalMemory!;
    const numel = Math.ceil(total / 4) + 1024;
    expect(() => tg.empty([numel], { device: 'cuda' })).toThrow(new RegExp(`cuda\\.alloc: out of device memory allocating ${numel * 4} bytes`));
    const x = tg.tensor([1, 2, 3], [3], { device: 'cuda' });
    expect(Array.from(x.data())).toEqual([1, 2, 3]);
    x.dispose();
  });

  it.skipIf(!cudaDevice.emulated)('a full device gives its cached blocks back and retries once before it throws (emulated 64 MiB device)', () => {
    tg.emptyCache();
    const { numBytes } = tg.memory().devices.cuda!;
    const MiB = 2 ** 20;
    process.env.THINKGRAD_CUDA_EMULATOR_MEMORY = String(numBytes + 4 * MiB + 64 * MiB);
    try {
      const big = tg.empty([12 * MiB], { device: 'cuda' }); // 48 MiB
      expect(() => tg.empty([6 * MiB], { device: 'cuda' })).toThrow(/out of device memory allocating 25165824 bytes/);
      big.dispose();
      expect(tg.memory().devices.cuda!.cachedBytes).toBe(48 * MiB);
      // 24 MiB is another size class: it fits only once the cached 48 MiB block goes back to the device.
      const other = tg.empty([6 * MiB], { device: 'cuda' });
      expect(tg.memory().devices.cuda!.cachedBytes).toBe(0);
      other.dispose();
    } finally {
      delete process.env.THINKGRAD_CUDA_EMULATOR_MEMORY;
      tg.emptyCache();
    }
  });
});
