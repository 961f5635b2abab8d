import { createPlayhead } from '../src/index.js';
import { Clock, MemoryStorage, Network, Target } from './fakes.js';

let ids = 0;

/** A Playhead on fake browser parts; `env` lets a test reuse storage, clock or network. */
export function page(options = {}, env = {}) {
  const clock = env.clock || new Clock();
  const storage = env.storage || new MemoryStorage();
  const network = env.network || new Network();
  const win = new Target();
  const doc = new Target();
  doc.visibilityState = 'visible';
  const nav = { get onLine() { return network.onLine; } };
  const playhead = createPlayhead({
    endpoint: 'https://gateway.test/',
    writeKey: 'wk-1',
    batchSize: 3,
    batchInterval: 5000,
    heartbeatInterval: 10000,
    random: () => 0.5,
    newId: () => `id${(ids += 1)}`,
    storage,
    fetch: network.fetch,
    sendBeacon: network.sendBeacon,
    window: win,
    document: doc,
    navigator: nav,
    now: clock.now,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    setInterval: clock.setInterval,
    clearInterval: clock.clearInterval,
    ...options,
  });
  return { playhead, clock, storage, network, win, doc };
}
