// Automatic tracking of an HTML5 <audio> or <video> element: its own events
// become the session's calls. A new session starts when the element plays a
// different source, so one session stays one play of one clip.

/** @typedef {import('./session.js').PlaybackSession} PlaybackSession */

/**
 * @typedef {object} MediaLike
 * @property {number} currentTime
 * @property {number} duration
 * @property {boolean} paused
 * @property {boolean} seeking
 * @property {number} playbackRate
 * @property {string} [currentSrc]
 * @property {{code: number, message?: string} | null} [error]
 * @property {(type: string, fn: (event?: any) => void) => void} addEventListener
 * @property {(type: string, fn: (event?: any) => void) => void} removeEventListener
 */

const EVENTS = ['play', 'playing', 'pause', 'seeking', 'waiting', 'timeupdate', 'ended',
  'error', 'emptied'];

export class MediaTracker {
  /**
   * @param {MediaLike} element
   * @param {(source: string) => PlaybackSession} newSession
   * @param {object} deps
   * @param {number} deps.heartbeatInterval ms
   * @param {() => number} deps.now
   * @param {(fn: () => void, ms: number) => any} deps.setInterval
   * @param {(handle: any) => void} deps.clearInterval
   */
  constructor(element, newSession, deps) {
    this.element = element;
    this.newSession = newSession;
    this.deps = deps;
    /** @type {PlaybackSession | null} */
    this.session = null;
    this.source = null;
    this.heartbeat = null;
    this.askedAt = null; // when play was asked for and no frame has come yet
    this.stalled = false;
    // Where the playhead was at the last timeupdate and when: a seek's origin
    // is gone from currentTime by the time the "seeking" event fires.
    this.lastPosition = 0;
    this.lastPositionAt = 0;
    // Where a paused element stands. By the time the "play" event runs, playback
    // may already have moved a few milliseconds past it, and what is heard
    // starts where the element stood.
    this.rest = element.paused ? this.position() : null;
    /** @type {Record<string, (event?: any) => void>} */
    this.handlers = {};
    for (const type of EVENTS) {
      this.handlers[type] = () => this.on(type);
      element.addEventListener(type, this.handlers[type]);
    }
    if (!element.paused) {
      // Already playing when tracking began: start from here.
      this.on('play');
      this.on('playing');
    }
  }

  /** @returns {PlaybackSession} */
  current() {
    const source = this.element.currentSrc || '';
    if (!this.session || source !== this.source) {
      this.stopHeartbeat();
      this.source = source;
      this.session = this.newSession(source);
      this.askedAt = null;
      this.stalled = false;
      this.started = false;
    }
    const { duration } = this.element;
    if (Number.isFinite(duration) && duration > 0) this.session.duration = duration;
    return this.session;
  }

  position() {
    const value = this.element.currentTime;
    return Number.isFinite(value) && value > 0 ? value : 0;
  }

  /** @param {string} type */
  on(type) {
    const el = this.element;
    const now = this.deps.now();
    switch (type) {
      case 'play': {
        const session = this.current();
        if (!this.started) this.askedAt = now;
        const at = this.rest !== null ? Math.min(this.rest, this.position()) : this.position();
        this.rest = null;
        session.play(at);
        this.remember(now);
        this.startHeartbeat();
        break;
      }
      case 'playing': {
        if (!this.session) break;
        if (this.askedAt !== null) {
          this.session.startup(now - this.askedAt, this.position());
          this.askedAt = null;
          this.started = true;
        } else if (this.stalled) {
          this.session.bufferEnd(this.position());
        }
        this.stalled = false;
        this.remember(now);
        break;
      }
      case 'waiting': {
        // Waiting right after a seek or before the first frame is not a stall.
        if (!this.session || !this.started || el.seeking || el.paused || this.stalled) break;
        this.stalled = true;
        this.session.bufferStart(this.position());
        break;
      }
      case 'pause': {
        this.rest = this.position();
        if (!this.session || !this.session.playing) break;
        this.stopHeartbeat();
        if (this.stalled) this.session.bufferEnd(this.position());
        this.stalled = false;
        this.session.pause(this.position());
        break;
      }
      case 'seeking': {
        if (el.paused) this.rest = this.position();
        if (!this.session) break;
        const rate = el.playbackRate || 1;
        const moving = this.session.playing && !this.stalled;
        const from = this.lastPosition + (moving ? ((now - this.lastPositionAt) / 1000) * rate : 0);
        this.session.seek(Math.max(0, from), this.position());
        this.remember(now);
        break;
      }
      case 'timeupdate': {
        if (!el.seeking) this.remember(now);
        if (el.paused) this.rest = this.position();
        break;
      }
      case 'ended': {
        this.rest = this.position();
        if (!this.session) break;
        this.stopHeartbeat();
        this.session.end(this.position());
        break;
      }
      case 'error': {
        const session = this.session || this.current();
        const failure = el.error;
        if (session.playing) {
          // Playback stops with the error, and no pause event will say so.
          this.stopHeartbeat();
          session.pause(this.position());
        }
        session.error(failure ? failure.code : 'unknown', (failure && failure.message) || '',
          this.position());
        break;
      }
      case 'emptied': {
        // A new source is being loaded: the old session is over.
        if (this.session && this.session.playing) this.session.pause(this.lastPosition);
        this.stopHeartbeat();
        this.rest = 0;
        break;
      }
      default:
        break;
    }
  }

  /** @param {number} now */
  remember(now) {
    this.lastPosition = this.position();
    this.lastPositionAt = now;
  }

  /** The page is going away while playing: what was heard ends here. */
  leave() {
    if (this.session && this.session.playing) {
      this.stopHeartbeat();
      this.session.pause(this.position());
    }
  }

  startHeartbeat() {
    this.stopHeartbeat();
    this.heartbeat = this.deps.setInterval(() => {
      if (this.session && this.session.playing && !this.element.paused) {
        this.session.progress(this.position());
      }
    }, this.deps.heartbeatInterval);
  }

  stopHeartbeat() {
    if (this.heartbeat !== null) this.deps.clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  detach() {
    this.leave();
    for (const type of EVENTS) this.element.removeEventListener(type, this.handlers[type]);
  }
}
