import * as tg from '../src/index.js';
tg.setNumThreads(1);
for (const n of [1 << 14, 1 << 16, 1 << 18]) {
  const a = tg.randn([n]);
  for (const [name, f] of [['sum', () => tg.sum(a)], ['max', () => tg.max(a)]] as const) {
    const ts: number[] = [];
    for (let r = 0; r < 2000; r++) { const t0 = performance.now(); tg.tidy(() => { f(); }); ts.push(performance.now() - t0); }
    ts.sort((x, y) => x - y);
    console.log(n, name, (ts[1000] * 1000).toFixed(2), 'us');
  }
  a.dispose();
}
