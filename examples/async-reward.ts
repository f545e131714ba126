// A reward function that calls out to a service (a verifier, a sandbox, a judge model) over HTTP. Reward
// functions may be async: return a Promise of one score per completion, null for "could not score". Here the
// example starts its own stub service on 127.0.0.1, then runs a few hand-written GRPO steps against it.
// Run: npx tsx examples/async-reward.ts
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as tg from 'thinkgrad';

// The stub service: POST {"completion": "..."} -> {"score": fraction of digits}, after a little latency.
// Completions containing "x" are refused with HTTP 503, to show how failures are handled.
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => setTimeout(() => {
    const { completion } = JSON.parse(body) as { completion: string };
    if (completion.includes('x')) {
      res.writeHead(503).end();
      return;
    }
    const digits = [...completion].filter((c) => c >= '0' && c <= '9').length;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ score: completion ? digits / completion.length : 0 }));
  }, 5));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/score`;

/**
 * Scores every completion with the service, at most `concurrency` requests in flight, each with a timeout.
 * A failed request scores null: the completion is left out of this reward's mean and counts as 0 in the
 * advantage (as TRL does), instead of failing the whole training step.
 */
function serviceReward(endpoint: string, { concurrency = 8, timeoutMs = 2000 } = {}): tg.rewards.RewardFunction {
  const score = async (completion: string): Promise<number | null> => {
    try {
      const res = await fetch(endpoint, { method: 'POST', body: JSON.stringify({ completion }), signal: AbortSignal.timeout(timeoutMs),
        headers: { 'content-type': 'application/json' } });
      if (!res.ok) return null;
      return ((await res.json()) as { score: number }).score;
    } catch {
      return null;
    }
  };
  const reward = async ({ completions }: tg.rewards.RewardArgs) => {
    const scores = new Array<number | null>(completions.length).fill(null);
    let next = 0;
    const worker = async () => {
      while (next < completions.length) {
        const i = next++;
        scores[i] = await score(tg.completionText(completions[i])); // text, or a conversational completion's messages
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, completions.length) }, worker));
    return scores;
  };
  return Object.defineProperty(reward, 'name', { value: 'digits_service' });
}

tg.manualSeed(0);
const tok = new tg.CharTokenizer({ chars: '0123456789abx' });
const model = new tg.nn.LlamaForCausalLM({ vocabSize: tok.vocabSize, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1,
  numAttentionHeads: 2, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId });
const opt = new tg.AdamW(model.parameters(), { lr: 1e-2 });
const reward = serviceReward(url);
const G = 8;
const prompt = [tok.bosTokenId!, ...tok.encode('ab', { addSpecialTokens: false })];
const L = 5;

try {
  for (let step = 0; step < 16; step++) {
    const promptIds = Array.from({ length: 2 * G }, () => prompt); // two groups of G
    const gen = tg.generate(model, promptIds, { maxNewTokens: L, eosTokenId: null, temperature: 1, seed: step });
    const completions = gen.completionIds.map((ids) => tok.decode(ids, { skipSpecialTokens: true }));
    const started = performance.now();
    const scores = await reward({ prompts: completions.map(() => 'ab'), completions }); // 16 requests, 8 at a time
    const ms = performance.now() - started;
    const { advantages, metrics } = tg.groupAdvantages(scores, { groupSize: G });

    const N = promptIds.length;
    tg.tidy(() => {
      const seqs = tg.tensor(gen.sequences.flat(), [N, prompt.length + L], { dtype: 'int32' });
      const logps = tg.selectiveLogSoftmax(model.forward(seqs).narrow(1, prompt.length - 1, L), seqs.narrow(1, prompt.length, L));
      tg.grpoLoss(logps, { advantages: tg.tensor(advantages, [N]), mask: tg.ones([N, L]) }).loss.backward();
    });
    opt.step();
    opt.zeroGrad();
    if (step % 5 === 0 || step === 15) {
      const refused = scores.filter((s) => s === null).length;
      console.log(`step ${step}: mean digit fraction ${metrics.reward.toFixed(3)} (${refused} refused by the service, ` +
        `scored in ${ms.toFixed(0)} ms)  e.g. ${JSON.stringify(completions[0])}`);
    }
  }
} finally {
  server.close();
}
