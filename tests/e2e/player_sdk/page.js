// Tracks the page's <audio> with the SDK as loaded from clients/player/src, and
// lets the test read what the element really played.
import { createPlayhead } from '/sdk/index.js';

const query = new URLSearchParams(location.search);
const audio = document.getElementById('player');
window.audio = audio;
window.playhead = createPlayhead({
  endpoint: query.get('endpoint'),
  writeKey: query.get('key'),
  batchInterval: Number(query.get('interval') || 1000),
  heartbeatInterval: Number(query.get('heartbeat') || 1000),
  retryBase: 500,
  retryMax: 2000,
});
window.tracking = window.playhead.track(audio, { clipId: query.get('clip'), source: 'e2e' });

/** The element's own record of what it played: [start, end] in seconds. */
window.playedRanges = () => {
  const ranges = [];
  for (let i = 0; i < audio.played.length; i += 1) {
    ranges.push([audio.played.start(i), audio.played.end(i)]);
  }
  return ranges;
};
document.documentElement.dataset.ready = 'true';
