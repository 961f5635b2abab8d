// Stand-ins for the browser: a clock whose timers run only when told, storage,
// the network and a media element.

export class Clock {
  constructor(start = 1_700_000_000_000) {
    this.time = start;
    this.timers = new Map();
    this.next = 1;
  }

  now = () => this.time;

  setTimeout = (fn, ms) => this.add(fn, ms, false);

  setInterval = (fn, ms) => this.add(fn, ms, true);

  clearTimeout = (id) => { this.timers.delete(id); };

  clearInterval = (id) => { this.timers.delete(id); };

  add(fn, ms, repeat) {
    const id = this.next++;
    this.timers.set(id, { fn, at: this.time + Math.max(0, ms), every: repeat ? Math.max(1, ms) : 0 });
    return id;
  }

  /** Moves time forward, running each timer when its time comes (and what it awaits). */
  async advance(ms) {
    const end = this.time + ms;
    for (;;) {
      await settle();
      let due = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (!due || timer.at < due[1].at)) due = [id, timer];
      }
      if (!due) break;
      const [id, timer] = due;
      this.time = Math.max(this.time, timer.at);
      if (timer.every) timer.at += timer.every; else this.timers.delete(id);
      timer.fn();
    }
    this.time = end;
    await settle();
  }
}

export async function settle() {
  for (let i = 0; i < 20; i += 1) await Promise.resolve();
}

export class MemoryStorage {
  constructor(entries = {}) {
    this.map = new Map(Object.entries(entries));
    this.quota = Infinity;
  }

  get length() { return this.map.size; }

  key(i) { return [...this.map.keys()][i] ?? null; }

  getItem(key) { return this.map.has(key) ? this.map.get(key) : null; }

  setItem(key, value) {
    const others = [...this.map].filter(([k]) => k !== key).reduce((n, [, v]) => n + v.length, 0);
    if (others + value.length > this.quota) throw new Error('QuotaExceededError');
    this.map.set(key, String(value));
  }

  removeItem(key) { this.map.delete(key); }
}

/** A gateway: answers each request with `answer(request)` (a status, or throws = network down). */
export class Network {
  constructor() {
    this.requests = [];
    this.beacons = [];
    this.answer = () => 202;
    this.beaconTakes = true;
    this.onLine = true;
  }

  fetch = async (url, init) => {
    const request = { url, init, body: JSON.parse(init.body) };
    this.requests.push(request);
    if (!this.onLine) {
      request.status = 0;
      throw new TypeError('Failed to fetch');
    }
    const answer = this.answer(request);
    const [status, headers] = Array.isArray(answer) ? answer : [answer, {}];
    request.status = status;
    return { status, headers: { get: (name) => headers[name] ?? null } };
  };

  sendBeacon = (url, body) => {
    // Like Chromium: the beacon is taken even offline; it is lost later.
    if (!this.beaconTakes) return false;
    this.beacons.push({ url, body: JSON.parse(body) });
    return true;
  };

  /** Events of the requests the gateway acknowledged. */
  acknowledged() {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300)
      .flatMap((r) => r.body.events);
  }
}

export class Target {
  constructor() { this.listeners = new Map(); }

  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
  }

  removeEventListener(type, fn) { this.listeners.get(type)?.delete(fn); }

  dispatch(type) { for (const fn of [...(this.listeners.get(type) || [])]) fn({ type }); }

  count(type) { return this.listeners.get(type)?.size ?? 0; }
}

export class FakeMedia extends Target {
  constructor() {
    super();
    this.currentTime = 0;
    this.duration = 120;
    this.paused = true;
    this.seeking = false;
    this.playbackRate = 1;
    this.currentSrc = 'https://example.test/episode.mp3';
    this.error = null;
  }
}

export function names(events) { return events.map((e) => e.data.event_name); }

export function eventsOf(requests) { return requests.flatMap((r) => r.body.events); }
