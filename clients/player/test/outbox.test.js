import test from 'node:test';
import assert from 'node:assert/strict';
import { page } from './helpers.js';
import { eventsOf, names } from './fakes.js';
import { endpointUrl, retryDelay } from '../src/index.js';

function played(playhead, clipId = 'clip-1', count = 1) {
  const s = playhead.session({ clipId });
  for (let i = 0; i < count; i += 1) s.progress(i);
  return s;
}

test('the write key and organization travel in the query string, the body as text/plain', async () => {
  const { playhead, network } = page({ organization: 'acme' });
  played(playhead, 'c', 3);
  await playhead.flush();
  const [request] = network.requests;
  assert.equal(request.url, 'https://gateway.test/v1/mparticle/events?key=wk-1&organizationId=acme');
  assert.equal(request.init.method, 'POST');
  assert.equal(request.init.headers['Content-Type'], 'text/plain;charset=UTF-8');
  assert.equal(endpointUrl('http://h:8080', undefined, 'a b'), 'http://h:8080/v1/mparticle/events?organizationId=a%20b');
});

test('a full batch goes at once; the rest waits for the interval', async () => {
  const { playhead, network, clock } = page({ batchSize: 3, batchInterval: 5000 });
  played(playhead, 'c', 7);
  await clock.advance(0);
  assert.deepEqual(network.requests.map((r) => r.body.events.length), [3, 3]);
  await clock.advance(4999);
  assert.equal(network.requests.length, 2);
  await clock.advance(1);
  assert.deepEqual(network.requests.map((r) => r.body.events.length), [3, 3, 1]);
  assert.deepEqual(eventsOf(network.requests).map((e) => e.data.custom_attributes.playhead_sequence),
    [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(playhead.stats().sent, 7);
  assert.equal(playhead.stats().queued, 0);
});

test('a failed batch is retried with the same events and ids, after a growing backoff', async () => {
  const { playhead, network, clock } = page({ batchSize: 2, retryBase: 1000, retryMax: 8000 });
  let failures = 3;
  network.answer = () => (failures-- > 0 ? 503 : 202);
  played(playhead, 'c', 2);
  await clock.advance(0);
  const times = [clock.now()];
  for (let i = 0; i < 3; i += 1) {
    const before = network.requests.length;
    while (network.requests.length === before) await clock.advance(10);
    times.push(clock.now());
  }
  // random() is 0.5: each wait is 3/4 of 1 s, 2 s, 4 s.
  assert.deepEqual(times.slice(1).map((t, i) => t - times[i]), [750, 1500, 3000]);
  assert.equal(network.requests.length, 4);
  const bodies = new Set(network.requests.map((r) => r.init.body));
  assert.equal(bodies.size, 1, 'every try carries the same bytes');
  assert.deepEqual(playhead.stats().failedSends, 3);
  assert.equal(playhead.stats().sent, 2);
});

test('backoff has jitter, a ceiling, and yields to a longer Retry-After', () => {
  const deps = { retryBase: 1000, retryMax: 60000, random: () => 0 };
  assert.equal(retryDelay(1, null, deps), 500);
  assert.equal(retryDelay(30, null, { ...deps, random: () => 1 }), 60000);
  assert.equal(retryDelay(1, '5', deps), 5000);
  assert.equal(retryDelay(1, '600', deps), 60000);
});

test('a refusal that retrying cannot fix is dropped, counted, and does not block the next batch', async () => {
  const { playhead, network } = page({ batchSize: 1 });
  network.answer = (r) => (r.body.events[0].data.custom_attributes.playhead_position === 0 ? 422 : 202);
  played(playhead, 'c', 2);
  await playhead.flush();
  assert.deepEqual(network.requests.map((r) => r.status), [422, 202]);
  assert.equal(playhead.stats().rejected, 1);
  assert.equal(playhead.stats().sent, 1);
});

test('429 and network failures are retried', async () => {
  const { playhead, network, clock } = page({ batchSize: 1 });
  const answers = [[429, { 'Retry-After': '2' }], 'throw', 202];
  network.answer = () => {
    const next = answers.shift();
    if (next === 'throw') throw new TypeError('Failed to fetch');
    return next;
  };
  played(playhead, 'c', 1);
  await clock.advance(0);
  assert.equal(network.requests.length, 1);
  await clock.advance(1999);
  assert.equal(network.requests.length, 1, 'Retry-After: 2 is respected');
  await clock.advance(1);
  assert.equal(network.requests.length, 2);
  await clock.advance(5000);
  assert.equal(network.requests.length, 3);
  assert.equal(playhead.stats().sent, 1);
});

test('offline, nothing is tried; back online, the queue goes out at once', async () => {
  const { playhead, network, clock, win } = page({ batchSize: 2 });
  network.onLine = false;
  played(playhead, 'c', 4);
  await clock.advance(20000);
  assert.equal(network.requests.length, 0);
  network.onLine = true;
  win.dispatch('online');
  await clock.advance(0);
  assert.deepEqual(network.requests.map((r) => r.body.events.length), [2, 2]);
});

test('the queue is bounded: the oldest batches go, counted, and the counter survives a reload', async () => {
  const overflows = [];
  const first = page({ batchSize: 2, queueLimit: 5, onOverflow: (n, total) => overflows.push([n, total]) });
  first.network.onLine = false;
  played(first.playhead, 'c', 8);
  assert.deepEqual(first.playhead.stats(), {
    sent: 0, sentByBeacon: 0, failedSends: 0, rejected: 0, adopted: 0, queued: 4, overflowed: 4,
  });
  assert.deepEqual(overflows, [[2, 2], [2, 4]]);
  first.win.dispatch('pagehide');
  const second = page({ batchSize: 2, queueLimit: 5 }, { storage: first.storage, clock: first.clock });
  assert.equal(second.playhead.stats().overflowed, 4);
  await second.clock.advance(0);
  assert.deepEqual(eventsOf(second.network.requests).map((e) => e.data.custom_attributes.playhead_sequence),
    [5, 6, 7, 8], 'the newest events were kept');
});

test('a page hidden while online hands its queue to sendBeacon, key included', async () => {
  const { playhead, network, win, storage, clock } = page({ batchSize: 50 });
  network.answer = () => 503; // nothing gets through by fetch
  const s = played(playhead, 'c', 2);
  s.pause(2);
  win.dispatch('pagehide');
  assert.equal(network.beacons.length, 1);
  assert.equal(network.beacons[0].url, 'https://gateway.test/v1/mparticle/events?key=wk-1');
  assert.deepEqual(names(network.beacons[0].body.events), ['Update Playhead Position', 'Update Playhead Position', 'Pause']);
  assert.equal(playhead.stats().sentByBeacon, 3);
  await clock.advance(60000);
  assert.equal(network.requests.filter((r) => r.status === 202).length, 0,
    'this page does not send a beaconed batch again');

  // Nothing says the beacon arrived: the next page sends it once more, same ids.
  network.answer = () => 202;
  const next = page({}, { storage, clock, network });
  assert.equal(next.playhead.stats().adopted, 3);
  await next.playhead.flush();
  assert.deepEqual(network.acknowledged().map((e) => e.data.event_id),
    network.beacons[0].body.events.map((e) => e.data.event_id));
  assert.equal(storage.length, 0);
});

test('beaconed batches kept for the next page are bounded, and not counted as overflow', () => {
  const { playhead, network, doc, storage } = page({ batchSize: 2, queueLimit: 4 });
  network.answer = () => 503;
  for (let i = 0; i < 5; i += 1) {
    played(playhead, 'c', 2);
    doc.visibilityState = 'hidden';
    doc.dispatch('visibilitychange');
  }
  const stored = JSON.parse([...storage.map.values()][0]);
  assert.equal(stored.beaconed.flatMap((b) => b.events).length, 4);
  assert.equal(playhead.stats().overflowed, 0);
  assert.equal(playhead.stats().sentByBeacon, 10);
});

test('visibilitychange to hidden flushes by beacon too', () => {
  const { playhead, network, doc } = page({ batchSize: 50 });
  played(playhead, 'c', 1);
  doc.visibilityState = 'hidden';
  doc.dispatch('visibilitychange');
  assert.equal(network.beacons.length, 1);
});

test('offline at page hide, or refused by the beacon quota, the queue stays for the next page, same ids', async () => {
  for (const cut of ['offline', 'quota']) {
    const first = page({ batchSize: 2 });
    if (cut === 'offline') first.network.onLine = false; else first.network.answer = () => 503;
    first.network.beaconTakes = cut !== 'quota';
    played(first.playhead, 'c', 3);
    await first.clock.advance(100);
    first.win.dispatch('pagehide');
    assert.equal(first.network.beacons.length, 0, cut);
    const ids = JSON.parse([...first.storage.map.values()][0]).batches
      .flatMap((b) => b.events.map((e) => e.data.event_id));
    assert.equal(ids.length, 3);

    // The reload: a new page on the same storage, online again.
    const second = page({ batchSize: 2 }, { storage: first.storage, clock: first.clock });
    assert.equal(second.playhead.stats().adopted, 3);
    await second.clock.advance(0);
    assert.deepEqual(second.network.acknowledged().map((e) => e.data.event_id), ids, cut);
    assert.equal(second.storage.length, 0);
  }
});

test('events not yet batched survive a crash (no pagehide) and are taken over after a while', async () => {
  const first = page({ batchSize: 10, adoptAfter: 30000 });
  played(first.playhead, 'c', 2);
  // Another page opening at once leaves a live page's outbox alone...
  const early = page({}, { storage: first.storage, clock: first.clock });
  assert.equal(early.playhead.stats().adopted, 0);
  early.playhead.stop();
  first.playhead.stop = () => {}; // the first page crashed: it never runs again
  first.clock.timers.clear();
  await first.clock.advance(30000);
  // ...but one opening after the first went silent takes it over.
  const later = page({}, { storage: first.storage, clock: first.clock });
  assert.equal(later.playhead.stats().adopted, 2);
  await later.playhead.flush();
  assert.equal(later.network.acknowledged().length, 2);
});

test('without an overflow handler, dropping is said on the console', (t) => {
  const warned = t.mock.method(console, 'warn', () => {});
  const { playhead, network } = page({ batchSize: 1, queueLimit: 2 });
  network.onLine = false;
  played(playhead, 'c', 3);
  assert.equal(warned.mock.callCount(), 1);
  assert.match(warned.mock.calls[0].arguments[0], /dropped 1 unsent events \(1 in all/);
});

test('storage that is full drops the oldest batch, counted', () => {
  const { playhead, storage, network } = page({ batchSize: 1, queueLimit: 100, onOverflow: () => {} });
  network.onLine = false;
  storage.quota = 2500;
  played(playhead, 'c', 10);
  const stats = playhead.stats();
  assert.ok(stats.overflowed > 0);
  assert.equal(stats.overflowed + stats.queued, 10);
});

test('stop removes the listeners and keeps the queue', () => {
  const { playhead, win, doc, storage, network } = page({ batchSize: 10 });
  network.onLine = false;
  played(playhead, 'c', 1);
  playhead.stop();
  assert.equal(win.count('pagehide') + win.count('online') + doc.count('visibilitychange'), 0);
  assert.equal(storage.length, 1);
});

test('options are checked', () => {
  assert.throws(() => page({ endpoint: '' }), /endpoint/);
  assert.throws(() => page({ writeKey: undefined }), /writeKey/);
});
