import test from 'node:test';
import assert from 'node:assert/strict';
import { PlaybackSession } from '../src/session.js';

function recorder(times) {
  const events = [];
  let i = 0;
  const sink = { record: (e) => events.push(e), now: () => times[Math.min(i++, times.length - 1)], newId: () => 'sess-1' };
  return { events, sink };
}

test('positions go out in milliseconds, with the clip and session on every event', () => {
  const { events, sink } = recorder([1000]);
  const s = new PlaybackSession({ clipId: 'ep-42', duration: 61.5, source: 'demo' }, sink);
  s.play(12.5);
  s.pause(40.0004);
  assert.deepEqual(events.map((e) => [e.data.event_name, e.data.custom_attributes.playhead_position]),
    [['Play', 12500], ['Pause', 40000]]);
  const media = events[0].data.custom_attributes;
  assert.equal(events[0].event_type, 'custom_event');
  assert.equal(events[0].data.custom_event_type, 'media');
  assert.deepEqual([media.content_id, media.media_session_id, media.player_name, media.content_duration],
    ['ep-42', 'sess-1', 'demo', 61500]);
});

test('ids derive from session and sequence; times strictly increase even if the clock stands or steps back', () => {
  const { events, sink } = recorder([5000, 5000, 4000, 7000]);
  const s = new PlaybackSession({ clipId: 'c' }, sink);
  s.play(0);
  s.progress(1);
  s.progress(2);
  s.pause(3);
  assert.deepEqual(events.map((e) => e.data.event_id), ['sess-1:1', 'sess-1:2', 'sess-1:3', 'sess-1:4']);
  assert.deepEqual(events.map((e) => e.data.custom_attributes.playhead_sequence), [1, 2, 3, 4]);
  assert.deepEqual(events.map((e) => e.data.timestamp_unixtime_ms), [5000, 5001, 5002, 7000]);
});

test('a seek is a Seek Start at its origin and a Seek End where it landed', () => {
  const { events, sink } = recorder([0]);
  new PlaybackSession({ clipId: 'c' }, sink).seek(30, 90.25);
  assert.deepEqual(events.map((e) => [e.data.event_name, e.data.custom_attributes.seek_position]),
    [['Seek Start', 30000], ['Seek End', 90250]]);
});

test('startup, stalls and errors carry their measures', () => {
  const { events, sink } = recorder([100, 100, 100, 900, 900, 900]);
  const s = new PlaybackSession({ clipId: 'c' }, sink);
  s.startup(321.4);
  s.bufferStart(5);
  s.bufferEnd(5);
  s.error(3, 'decode failed', 5.5);
  assert.deepEqual(events.map((e) => e.data.event_name),
    ['Update QoS', 'Buffer Start', 'Buffer End', 'Media Error']);
  assert.equal(events[0].data.custom_attributes.qos_startup_time, 321);
  assert.equal(events[2].data.custom_attributes.buffer_duration, 800);
  assert.equal(events[2].data.custom_attributes.buffer_position, 5000);
  assert.deepEqual([events[3].data.custom_attributes.error_code, events[3].data.custom_attributes.error_message],
    ['3', 'decode failed']);
});

test('a session needs a clip', () => {
  assert.throws(() => new PlaybackSession({}, recorder([0]).sink), /clipId/);
});
