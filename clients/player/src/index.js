// @playhead/player: the browser SDK of Playhead. No dependencies, no build step.
//
//   const playhead = createPlayhead({ endpoint, writeKey });
//   playhead.track(document.querySelector('audio'), { clipId: 'episode-42' });

import { Outbox, retryDelay } from './queue.js';
import { PlaybackSession } from './session.js';
import { MediaTracker } from './media.js';

export { PlaybackSession, retryDelay };

/**
 * One event as the gateway's mParticle media route reads it.
 * @typedef {object} WireEvent
 * @property {'custom_event'} event_type
 * @property {{custom_event_type: 'media', event_name: string, event_id: string,
 *   timestamp_unixtime_ms: number, custom_attributes: Record<string, any>}} data
 */

const DEFAULTS = {
  batchSize: 20,
  batchInterval: 5000,
  heartbeatInterval: 10000,
  queueLimit: 1000,
  retryBase: 1000,
  retryMax: 60000,
  adoptAfter: 30000,
};
// The gateway takes at most 500 events in one batch (PLAYHEAD_MPARTICLE_MAX_BATCH_EVENTS).
const MAX_BATCH = 500;
export const ROUTE = '/v1/mparticle/events';

/**
 * @param {import('./index.js').PlayheadOptions} options
 */
export function createPlayhead(options) {
  if (!options || !options.endpoint) throw new TypeError('createPlayhead needs an endpoint');
  if (!options.writeKey && !options.organization) {
    throw new TypeError('createPlayhead needs a writeKey (or, without write keys, an organization)');
  }
  const settings = { ...DEFAULTS, ...options };
  settings.batchSize = Math.max(1, Math.min(MAX_BATCH, Math.floor(settings.batchSize)));
  const g = /** @type {any} */ (globalThis);
  const win = options.window !== undefined ? options.window : (typeof window !== 'undefined' ? window : null);
  const doc = options.document !== undefined ? options.document : (typeof document !== 'undefined' ? document : null);
  const nav = options.navigator !== undefined ? options.navigator : (typeof navigator !== 'undefined' ? navigator : null);
  const now = options.now || (() => Date.now());
  const random = options.random || Math.random;
  const setTimer = options.setTimeout || ((fn, ms) => g.setTimeout(fn, ms));
  const clearTimer = options.clearTimeout || ((h) => g.clearTimeout(h));
  const setRepeat = options.setInterval || ((fn, ms) => g.setInterval(fn, ms));
  const clearRepeat = options.clearInterval || ((h) => g.clearInterval(h));
  const newId = options.newId || (() => randomId(random));
  const fetcher = options.fetch !== undefined ? options.fetch
    : (typeof g.fetch === 'function' ? g.fetch.bind(g) : null);
  const beacon = options.sendBeacon !== undefined ? options.sendBeacon
    : (nav && typeof nav.sendBeacon === 'function' ? nav.sendBeacon.bind(nav) : null);
  const online = () => !nav || nav.onLine !== false;

  const outbox = new Outbox({
    url: endpointUrl(settings.endpoint, settings.writeKey, settings.organization),
    batchSize: settings.batchSize,
    batchInterval: settings.batchInterval,
    queueLimit: settings.queueLimit,
    retryBase: settings.retryBase,
    retryMax: settings.retryMax,
    adoptAfter: settings.adoptAfter,
    storage: options.storage !== undefined ? options.storage : localStore(g),
    instance: newId(),
    fetch: fetcher,
    beacon,
    online,
    now,
    random,
    setTimeout: setTimer,
    clearTimeout: clearTimer,
    onOverflow: options.onOverflow || warnOverflow,
  });

  /** @type {MediaTracker[]} */
  const trackers = [];
  const sink = { record: (/** @type {WireEvent} */ e) => outbox.add(e), now, newId };

  const leave = () => {
    for (const tracker of trackers) tracker.leave();
    outbox.leave();
  };
  const hidden = () => {
    // Hidden is often the last moment a mobile page gets to run.
    if (doc && doc.visibilityState === 'hidden') outbox.leave();
  };
  const wake = () => { outbox.wake(); };
  if (win && win.addEventListener) {
    win.addEventListener('pagehide', leave);
    win.addEventListener('online', wake);
  }
  if (doc && doc.addEventListener) doc.addEventListener('visibilitychange', hidden);
  outbox.start();

  return {
    /**
     * Tracks an <audio> or <video> element until `detach()`.
     * @param {import('./media.js').MediaLike} element
     * @param {Omit<import('./session.js').SessionOptions, 'sessionId'>} sessionOptions
     */
    track(element, sessionOptions) {
      if (!sessionOptions || !sessionOptions.clipId) throw new TypeError('track needs a clipId');
      const tracker = new MediaTracker(element,
        () => new PlaybackSession({ ...sessionOptions }, sink),
        { heartbeatInterval: settings.heartbeatInterval, now, setInterval: setRepeat,
          clearInterval: clearRepeat });
      trackers.push(tracker);
      return {
        get session() { return tracker.session; },
        detach() {
          tracker.detach();
          trackers.splice(trackers.indexOf(tracker), 1);
        },
      };
    },
    /**
     * A session driven by hand, for players that are not a media element.
     * @param {import('./session.js').SessionOptions} sessionOptions
     */
    session(sessionOptions) {
      return new PlaybackSession(sessionOptions, sink);
    },
    /** Sends what is waiting now, without waiting for the interval. */
    flush() { return outbox.flush(); },
    /** What happened to the events so far. */
    stats() {
      return { ...outbox.stats, queued: outbox.size(), overflowed: outbox.overflowed };
    },
    /** Stops listening and timers; what is queued stays in storage for the next page. */
    stop() {
      if (win && win.removeEventListener) {
        win.removeEventListener('pagehide', leave);
        win.removeEventListener('online', wake);
      }
      if (doc && doc.removeEventListener) doc.removeEventListener('visibilitychange', hidden);
      for (const tracker of [...trackers]) tracker.detach();
      trackers.length = 0;
      outbox.left = true;
      outbox.save();
      outbox.stop();
    },
  };
}

/**
 * The route's URL. The key and organization go in the query string because
 * navigator.sendBeacon cannot set headers.
 * @param {string} endpoint
 * @param {string | undefined} writeKey
 * @param {string | undefined} organization
 */
export function endpointUrl(endpoint, writeKey, organization) {
  const query = [];
  if (writeKey) query.push(`key=${encodeURIComponent(writeKey)}`);
  if (organization) query.push(`organizationId=${encodeURIComponent(organization)}`);
  return `${endpoint.replace(/\/+$/, '')}${ROUTE}${query.length ? `?${query.join('&')}` : ''}`;
}

/**
 * Without a handler of the page's own, dropped events are at least said out loud.
 * @param {number} dropped
 * @param {number} total
 */
function warnOverflow(dropped, total) {
  const g = /** @type {any} */ (globalThis);
  if (g.console && typeof g.console.warn === 'function') {
    g.console.warn(`@playhead/player: the queue is full; dropped ${dropped} unsent events `
      + `(${total} in all, see stats().overflowed)`);
  }
}

/** @param {() => number} random */
function randomId(random) {
  const g = /** @type {any} */ (globalThis);
  if (g.crypto && typeof g.crypto.randomUUID === 'function') return g.crypto.randomUUID();
  let id = '';
  for (let i = 0; i < 32; i += 1) id += Math.floor(random() * 16).toString(16);
  return id;
}

/** @param {any} g */
function localStore(g) {
  // Reading localStorage throws where storage is blocked (some privacy modes).
  try {
    return g.localStorage || null;
  } catch {
    return null;
  }
}
