import test from 'node:test';
import assert from 'node:assert/strict';
import { page } from './helpers.js';
import { FakeMedia } from './fakes.js';

/** The events a tracked element produced, as [name, position in s, extra]. */
function recorded(network) {
  return network.requests.flatMap((r) => r.body.events).concat(
    network.beacons.flatMap((b) => b.body.events)).map((e) => {
    const a = e.data.custom_attributes;
    const at = (a.seek_position ?? a.playhead_position) / 1000;
    const extra = a.qos_startup_time ?? a.buffer_duration ?? a.error_code;
    return extra === undefined ? [e.data.event_name, at] : [e.data.event_name, at, extra];
  });
}

function player(options = {}) {
  const env = page({ batchSize: 100, heartbeatInterval: 10000, ...options });
  const media = new FakeMedia();
  const tracking = env.playhead.track(media, { clipId: 'episode-42' });
  return { ...env, media, tracking };
}

async function playFor(env, seconds) {
  for (let i = 0; i < seconds * 4; i += 1) {
    await env.clock.advance(250);
    env.media.currentTime += 0.25;
    env.media.dispatch('timeupdate');
  }
}

test('play, startup, heartbeats, seek while playing, pause and end', async () => {
  const env = player();
  const { media, clock } = env;
  media.paused = false;
  media.dispatch('play');
  await clock.advance(180);
  media.dispatch('playing');
  await playFor(env, 12);
  // The viewer drags to 60 s 100 ms after the last timeupdate: the seek's origin is estimated.
  await clock.advance(100);
  media.currentTime = 60;
  media.seeking = true;
  media.dispatch('seeking');
  media.seeking = false;
  media.dispatch('seeked');
  await playFor(env, 2);
  media.paused = true;
  media.dispatch('pause');
  media.currentTime = 120;
  media.dispatch('ended');
  await env.playhead.flush();
  assert.deepEqual(recorded(env.network), [
    ['Play', 0], ['Update QoS', 0, 180], ['Update Playhead Position', 9.75],
    ['Seek Start', 12.1], ['Seek End', 60], ['Pause', 62], ['Media Content End', 120],
  ]);
  const events = env.network.requests.flatMap((r) => r.body.events);
  assert.equal(new Set(events.map((e) => e.data.custom_attributes.media_session_id)).size, 1);
  assert.equal(events[0].data.custom_attributes.content_duration, 120000);
});

test('a stall is a Buffer Start and a Buffer End with its length; waiting while seeking is not', async () => {
  const env = player();
  const { media, clock } = env;
  media.paused = false;
  media.dispatch('play');
  media.dispatch('playing');
  await playFor(env, 1);
  media.dispatch('waiting');
  await clock.advance(1500);
  media.dispatch('playing');
  media.seeking = true;
  media.currentTime = 30;
  media.dispatch('seeking');
  media.dispatch('waiting');
  media.seeking = false;
  media.dispatch('playing');
  await env.playhead.flush();
  assert.deepEqual(recorded(env.network).map((e) => e[0]), [
    'Play', 'Update QoS', 'Buffer Start', 'Buffer End', 'Seek Start', 'Seek End']);
  assert.deepEqual(recorded(env.network)[3], ['Buffer End', 1, 1500]);
});

test('an error while playing stops the interval and is recorded with its code', async () => {
  const env = player();
  const { media } = env;
  media.paused = false;
  media.dispatch('play');
  media.dispatch('playing');
  await playFor(env, 2);
  media.error = { code: 3, message: 'PIPELINE_ERROR_DECODE' };
  media.dispatch('error');
  await env.playhead.flush();
  assert.deepEqual(recorded(env.network).slice(-2), [['Pause', 2], ['Media Error', 2, '3']]);
});

test('leaving the page while playing closes what was heard at the current position, by beacon', async () => {
  const env = player();
  const { media, win, network } = env;
  media.paused = false;
  media.dispatch('play');
  media.dispatch('playing');
  await playFor(env, 3);
  win.dispatch('pagehide');
  assert.equal(network.beacons.length, 1);
  assert.deepEqual(recorded(network).map((e) => e.slice(0, 2)),
    [['Play', 0], ['Update QoS', 0], ['Pause', 3]]);
});

test('a new source is a new session', async () => {
  const env = player();
  const { media } = env;
  media.paused = false;
  media.dispatch('play');
  media.paused = true;
  media.dispatch('pause');
  media.dispatch('emptied');
  media.currentSrc = 'https://example.test/other.mp3';
  media.paused = false;
  media.dispatch('play');
  await env.playhead.flush();
  const sessions = env.network.requests.flatMap((r) => r.body.events)
    .map((e) => e.data.custom_attributes.media_session_id);
  assert.equal(new Set(sessions).size, 2);
  env.tracking.detach();
  assert.equal(media.count('play'), 0);
});

test('an element already playing when tracked starts its session at once', async () => {
  const env = page({ batchSize: 100 });
  const media = new FakeMedia();
  media.paused = false;
  media.currentTime = 7;
  env.playhead.track(media, { clipId: 'c' });
  await env.playhead.flush();
  assert.deepEqual(recorded(env.network)[0], ['Play', 7]);
});

test('play starts where the element stood, though currentTime has moved on when the event runs', async () => {
  const env = player();
  const { media } = env;
  media.currentTime = 0;
  media.paused = false;
  media.currentTime = 0.003; // the event runs a moment after playback began
  media.dispatch('play');
  media.dispatch('playing');
  await playFor(env, 1);
  media.paused = true;
  media.dispatch('pause');
  media.seeking = true;
  media.currentTime = 30;
  media.dispatch('seeking');
  media.seeking = false;
  media.paused = false;
  media.currentTime = 30.004;
  media.dispatch('play');
  await env.playhead.flush();
  const plays = recorded(env.network).filter((e) => e[0] === 'Play');
  assert.deepEqual(plays, [['Play', 0], ['Play', 30]]);
});
