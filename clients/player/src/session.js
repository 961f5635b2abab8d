// One playback session: one play of one clip by one viewer. It turns what a
// player says (play at 12.5 s, pause at 40 s, a stall of 800 ms, ...) into
// the gateway's mParticle media events, numbering them as it goes.

/** @typedef {import('./index.js').WireEvent} WireEvent */

/**
 * @typedef {object} SessionOptions
 * @property {string} clipId
 * @property {string} [sessionId]
 * @property {number} [duration]  the clip's length, seconds
 * @property {string} [source]    shown as the session's source (default "web")
 * @property {Record<string, string | number | boolean>} [attributes]
 */

const ms = (/** @type {number} */ seconds) => Math.max(0, Math.round(seconds * 1000));

export class PlaybackSession {
  /**
   * @param {SessionOptions} options
   * @param {{record: (event: WireEvent) => void, now: () => number, newId: () => string}} sink
   */
  constructor(options, sink) {
    if (!options || !options.clipId) throw new TypeError('a session needs a clipId');
    this.clipId = String(options.clipId);
    this.id = options.sessionId ? String(options.sessionId) : sink.newId();
    this.source = options.source || 'web';
    this.duration = options.duration;
    this.attributes = options.attributes || {};
    this.sink = sink;
    this.sequence = 0;
    this.lastTime = 0;
    this.playing = false;
    this.bufferingSince = null;
  }

  /** @param {number} position seconds */
  play(position) {
    this.playing = true;
    this.emit('Play', { playhead_position: ms(position) });
  }

  /** @param {number} position seconds */
  pause(position) {
    this.playing = false;
    this.emit('Pause', { playhead_position: ms(position) });
  }

  /**
   * The viewer moved from `from` to `to`. While playing, what was heard ends at
   * `from` and resumes at `to`; while paused the pipeline only notes the seek.
   * @param {number} from seconds
   * @param {number} to seconds
   */
  seek(from, to) {
    this.emit('Seek Start', { seek_position: ms(from), playhead_position: ms(from) });
    this.emit('Seek End', { seek_position: ms(to), playhead_position: ms(to) });
  }

  /** A heartbeat: still playing, now at `position`. @param {number} position */
  progress(position) {
    this.emit('Update Playhead Position', { playhead_position: ms(position) });
  }

  /** Time from asking to play to the first frame or sample. @param {number} millis */
  startup(millis, position = 0) {
    this.emit('Update QoS', {
      qos_startup_time: Math.max(0, Math.round(millis)), playhead_position: ms(position),
    });
  }

  /** Playback stopped to wait for data. @param {number} position */
  bufferStart(position) {
    this.bufferingSince = this.sink.now();
    this.emit('Buffer Start', { buffer_position: ms(position), playhead_position: ms(position) });
  }

  /**
   * Playback resumed after a stall; its length is measured from bufferStart
   * unless given.
   * @param {number} position
   * @param {number} [millis]
   */
  bufferEnd(position, millis) {
    const measured = millis !== undefined ? millis
      : this.bufferingSince !== null ? this.sink.now() - this.bufferingSince : 0;
    this.bufferingSince = null;
    this.emit('Buffer End', {
      buffer_position: ms(position), playhead_position: ms(position),
      buffer_duration: Math.max(0, Math.round(measured)),
    });
  }

  /**
   * @param {string | number} code
   * @param {string} message
   * @param {number} position
   */
  error(code, message, position) {
    this.emit('Media Error', {
      playhead_position: ms(position), error_code: String(code),
      error_message: String(message || '').slice(0, 2000),
    });
  }

  /** Played to the end. @param {number} position */
  end(position) {
    this.playing = false;
    this.emit('Media Content End', { playhead_position: ms(position) });
  }

  /**
   * @param {string} name
   * @param {Record<string, number | string>} fields
   */
  emit(name, fields) {
    this.sequence += 1;
    // The gateway orders a session by the event's millisecond; keeping each
    // event at least one millisecond after the previous makes that order the
    // order of this counter, even for events emitted in the same instant or
    // when the clock steps back.
    const time = Math.max(Math.floor(this.sink.now()), this.lastTime + 1);
    this.lastTime = time;
    /** @type {Record<string, string | number | boolean>} */
    const media = {
      ...this.attributes,
      content_id: this.clipId,
      media_session_id: this.id,
      player_name: this.source,
      playhead_sequence: this.sequence,
      ...fields,
    };
    if (this.duration !== undefined && Number.isFinite(this.duration)) {
      media.content_duration = ms(this.duration);
    }
    this.sink.record({
      event_type: 'custom_event',
      data: {
        custom_event_type: 'media',
        event_name: name,
        // Fixed here, once: a retried batch carries the same id, so the
        // pipeline keeps one copy.
        event_id: `${this.id}:${this.sequence}`,
        timestamp_unixtime_ms: time,
        custom_attributes: media,
      },
    });
  }
}
