// The outbox: events wait here until the gateway acknowledged them.
//
// Events are first gathered into an open batch; a batch is sealed when it is
// full (batchSize) or when the interval tick comes. Sealed batches are sent
// oldest first, one request at a time, and leave the outbox only on a 2xx (or
// a refusal that retrying cannot fix). Everything, the open batch included,
// is written to storage on every change, so a reload or a crash loses nothing
// that was recorded: the next page load adopts what the last one left.
//
// Batches handed to navigator.sendBeacon stay in storage too. A beacon's fate
// is never known (offline, or a network cut, it is lost without a word), so
// the next page of the site sends them once more; their ids are the ones
// already sent, and the pipeline counts each id once.

/** @typedef {import('./index.js').WireEvent} WireEvent */

/**
 * @typedef {object} Batch
 * @property {string} id
 * @property {WireEvent[]} events
 * @property {number} attempts  failed sends so far
 * @property {number} nextAt    earliest time (ms) for the next try
 */

/**
 * @typedef {object} Stored
 * @property {number} version
 * @property {WireEvent[]} open
 * @property {Batch[]} batches
 * @property {Batch[]} beaconed  handed to sendBeacon; the next page sends them again
 * @property {number} overflowed
 * @property {number} savedAt
 * @property {boolean} left  the page that wrote it is gone (pagehide)
 */

const STORE_VERSION = 2;
const PREFIX = 'playhead.outbox.';

export class Outbox {
  /**
   * @param {object} deps
   * @param {string} deps.url            where batches are posted, key and organization included
   * @param {number} deps.batchSize
   * @param {number} deps.batchInterval  ms
   * @param {number} deps.queueLimit     events kept at most (open batch + sealed batches)
   * @param {number} deps.retryBase      ms before the first retry
   * @param {number} deps.retryMax       ms, the longest wait between retries
   * @param {number} deps.adoptAfter     ms after which another page's silent outbox is taken over
   * @param {Storage | null} deps.storage
   * @param {string} deps.instance       this page's outbox name in storage
   * @param {typeof fetch | null} deps.fetch
   * @param {((url: string, body: string) => boolean) | null} deps.beacon
   * @param {() => boolean} deps.online
   * @param {() => number} deps.now
   * @param {() => number} deps.random
   * @param {(fn: () => void, ms: number) => any} deps.setTimeout
   * @param {(handle: any) => void} deps.clearTimeout
   * @param {(dropped: number, total: number) => void} [deps.onOverflow]
   */
  constructor(deps) {
    this.deps = deps;
    /** @type {WireEvent[]} */
    this.open = [];
    /** @type {Batch[]} */
    this.batches = [];
    /** @type {Batch[]} */
    this.beaconed = [];
    this.overflowed = 0;
    this.stats = { sent: 0, sentByBeacon: 0, failedSends: 0, rejected: 0, adopted: 0 };
    this.inFlight = false;
    /** @type {Promise<void>} */
    this.sending = Promise.resolve();
    this.batchCounter = 0;
    this.timer = null;
    this.retryTimer = null;
    this.closed = false;
    // Set when the page is going away, cleared when it records again (it came
    // back from the back/forward cache): a page that left gives its outbox up.
    this.left = false;
    this.key = PREFIX + deps.instance;
    this.adopt();
  }

  /** Starts the interval tick, and sends what earlier pages left. */
  start() {
    this.tick();
  }

  /** @param {WireEvent} event */
  add(event) {
    this.left = false;
    this.open.push(event);
    if (this.open.length >= this.deps.batchSize) this.seal();
    this.bound();
    this.save();
    if (this.batches.length) this.sendDue();
  }

  /** Seals the open batch and tries to send everything due now. */
  flush() {
    this.seal();
    this.save();
    return this.sendDue();
  }

  /** Number of events not yet acknowledged. */
  size() {
    return this.open.length + this.batches.reduce((n, b) => n + b.events.length, 0);
  }

  /**
   * The page is going away: hand every batch to navigator.sendBeacon.
   *
   * Offline, or when the beacon quota refuses a batch, it stays queued. A
   * batch the browser took moves to `beaconed`: this page sends it no more,
   * but it stays in storage for the next page to send again, since nothing
   * says the beacon arrived. Batches that a fetch is still carrying go too:
   * if both arrive, the ids are the same and the pipeline counts them once.
   */
  leave() {
    this.left = true;
    this.seal();
    const { beacon } = this.deps;
    if (beacon && this.deps.online()) {
      const kept = [];
      for (const batch of this.batches) {
        let taken = false;
        try {
          taken = beacon(this.deps.url, body(batch));
        } catch {
          taken = false;
        }
        if (taken) {
          this.stats.sentByBeacon += batch.events.length;
          this.beaconed.push(batch);
        } else {
          kept.push(batch);
        }
      }
      this.batches = kept;
      // Likely delivered, so not overflow: the oldest simply stop being kept.
      let keptEvents = this.beaconed.reduce((n, b) => n + b.events.length, 0);
      while (keptEvents > this.deps.queueLimit && this.beaconed.length > 1) {
        keptEvents -= this.beaconed.splice(0, 1)[0].events.length;
      }
    }
    this.save();
  }

  /** The network is back: retry at once instead of waiting out the backoff. */
  wake() {
    const now = this.deps.now();
    for (const batch of this.batches) batch.nextAt = Math.min(batch.nextAt, now);
    return this.sendDue();
  }

  stop() {
    this.closed = true;
    this.deps.clearTimeout(this.timer);
    this.deps.clearTimeout(this.retryTimer);
  }

  tick() {
    if (this.closed) return;
    this.seal();
    this.save();
    this.sendDue();
    this.timer = this.deps.setTimeout(() => this.tick(), this.deps.batchInterval);
  }

  seal() {
    while (this.open.length) {
      const events = this.open.splice(0, this.deps.batchSize);
      this.batchCounter += 1;
      this.batches.push({
        id: `${this.deps.instance}-${this.batchCounter}`, events, attempts: 0, nextAt: 0,
      });
    }
  }

  // Over the limit, the oldest batches go first: the newest events describe
  // what is playing now, and a session's late pause is worth more than its
  // long-gone start. Whatever goes is counted in `overflowed` and reported.
  bound() {
    let excess = this.size() - this.deps.queueLimit;
    if (excess <= 0) return;
    let dropped = 0;
    while (excess > 0 && this.batches.length && !(this.inFlight && this.batches.length === 1)) {
      // The batch a fetch is carrying stays: its answer will remove it.
      const index = this.inFlight ? 1 : 0;
      const [gone] = this.batches.splice(index, 1);
      dropped += gone.events.length;
      excess -= gone.events.length;
    }
    if (excess > 0) {
      const gone = this.open.splice(0, Math.min(excess, this.open.length));
      dropped += gone.length;
    }
    this.overflowed += dropped;
    if (dropped && this.deps.onOverflow) this.deps.onOverflow(dropped, this.overflowed);
  }

  /** @returns {Promise<void>} resolves once nothing more is due now */
  sendDue() {
    // One loop at a time; it picks up batches sealed while it runs.
    if (!this.inFlight) this.sending = this.sendLoop();
    return this.sending;
  }

  async sendLoop() {
    if (this.closed || !this.deps.fetch) return;
    this.inFlight = true;
    try {
      for (;;) {
        const batch = this.batches[0];
        if (!batch || batch.nextAt > this.deps.now() || !this.deps.online()) break;
        const outcome = await this.post(batch);
        if (outcome === 'retry') break;
        const index = this.batches.indexOf(batch);
        if (index >= 0) this.batches.splice(index, 1);
        this.save();
      }
    } finally {
      this.inFlight = false;
    }
  }

  /**
   * @param {Batch} batch
   * @returns {Promise<'sent' | 'refused' | 'retry'>}
   */
  async post(batch) {
    let status = 0;
    let retryAfter = null;
    try {
      const answer = await /** @type {typeof fetch} */ (this.deps.fetch)(this.deps.url, {
        method: 'POST',
        // text/plain keeps the request "simple": no CORS preflight, and the
        // same body a beacon carries.
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
        body: body(batch),
        credentials: 'omit',
      });
      status = answer.status;
      retryAfter = answer.headers && answer.headers.get ? answer.headers.get('Retry-After') : null;
    } catch {
      status = 0; // the network failed: offline, refused, cut
    }
    if (status >= 200 && status < 300) {
      this.stats.sent += batch.events.length;
      return 'sent';
    }
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      // The same bytes would be refused again (bad key, invalid events):
      // keeping them would block every later batch behind them.
      this.stats.rejected += batch.events.length;
      return 'refused';
    }
    this.stats.failedSends += 1;
    batch.attempts += 1;
    const wait = retryDelay(batch.attempts, retryAfter, this.deps);
    batch.nextAt = this.deps.now() + wait;
    this.save();
    this.deps.clearTimeout(this.retryTimer);
    this.retryTimer = this.deps.setTimeout(() => this.sendDue(), wait);
    return 'retry';
  }

  save() {
    const { storage } = this.deps;
    if (!storage) return;
    if (!this.open.length && !this.batches.length && !this.beaconed.length && !this.overflowed) {
      storage.removeItem(this.key);
      return;
    }
    /** @type {Stored} */
    const stored = {
      version: STORE_VERSION, open: this.open, batches: this.batches, beaconed: this.beaconed,
      overflowed: this.overflowed, savedAt: this.deps.now(), left: this.left,
    };
    for (;;) {
      try {
        storage.setItem(this.key, JSON.stringify(stored));
        return;
      } catch {
        // Storage is full: beaconed batches go first (likely delivered), then the
        // oldest unsent batch (counted) rather than everything.
        if (this.beaconed.length) {
          this.beaconed.splice(0, 1);
          stored.beaconed = this.beaconed;
          continue;
        }
        if (!this.batches.length) return;
        const [gone] = this.batches.splice(0, 1);
        this.overflowed += gone.events.length;
        stored.overflowed = this.overflowed;
        if (this.deps.onOverflow) this.deps.onOverflow(gone.events.length, this.overflowed);
      }
    }
  }

  // Outboxes other pages left (closed, reloaded, crashed) become this one's.
  // A page still open keeps its own: one that saved recently and did not say
  // it left is alive, and two pages sending the same batch would only cost
  // a duplicate request, never a double count.
  adopt() {
    const { storage } = this.deps;
    if (!storage) return;
    const now = this.deps.now();
    const keys = [];
    for (let i = 0; i < storage.length; i += 1) {
      const key = storage.key(i);
      if (key && key.startsWith(PREFIX) && key !== this.key) keys.push(key);
    }
    for (const key of keys) {
      let stored;
      try {
        stored = JSON.parse(storage.getItem(key) || 'null');
      } catch {
        stored = null;
      }
      if (!stored || stored.version !== STORE_VERSION) {
        storage.removeItem(key);
        continue;
      }
      if (!stored.left && now - stored.savedAt < this.deps.adoptAfter) continue;
      storage.removeItem(key);
      const theirs = [...stored.beaconed, ...stored.batches];
      if (stored.open.length) {
        theirs.push({ id: `${key}-open`, events: stored.open, attempts: 0, nextAt: 0 });
      }
      for (const batch of theirs) {
        this.batches.push({ ...batch, nextAt: 0 });
        this.stats.adopted += batch.events.length;
      }
      this.overflowed += stored.overflowed || 0;
    }
    // Oldest first across pages, so a session's events go out in order.
    this.batches.sort((a, b) => firstTime(a) - firstTime(b));
    this.bound();
    this.save();
  }
}

/** @param {Batch} batch */
function body(batch) {
  return JSON.stringify({ events: batch.events });
}

/** @param {Batch} batch */
function firstTime(batch) {
  return batch.events.length ? batch.events[0].data.timestamp_unixtime_ms : 0;
}

/**
 * Exponential backoff with jitter, so many players coming back online at
 * once do not all knock at the same second; the gateway's Retry-After wins
 * when it asks for longer.
 * @param {number} attempts
 * @param {string | null} retryAfter
 * @param {{retryBase: number, retryMax: number, random: () => number}} deps
 */
export function retryDelay(attempts, retryAfter, deps) {
  const exponential = Math.min(deps.retryMax, deps.retryBase * 2 ** (attempts - 1));
  const jittered = exponential / 2 + deps.random() * (exponential / 2);
  const asked = Number(retryAfter) * 1000;
  return Math.round(Number.isFinite(asked) && asked > jittered ? Math.min(asked, deps.retryMax)
    : jittered);
}
