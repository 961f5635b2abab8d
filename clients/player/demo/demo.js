// The demo page's glue: read the settings the read API put in the page, track
// the <audio> element, show what the SDK did.
import { createPlayhead } from '/demo/sdk/index.js';

const config = JSON.parse(document.body.dataset.config);
const playhead = createPlayhead({
  endpoint: config.endpoint,
  writeKey: config.writeKey || undefined,
  organization: config.organization,
  batchInterval: 2000,
});
const audio = document.getElementById('player');
const tracking = playhead.track(audio, { clipId: config.clipId, source: 'demo' });

document.getElementById('dashboard').href = config.dashboard;
const idle = Math.round(config.idleSeconds);
document.getElementById('when').textContent = `A play shows on the dashboard once its session `
  + `closes: ${idle} s after its last event (PLAYHEAD_IDLE_TIMEOUT_SECONDS). Sessions under `
  + `${config.minSessionSeconds} s are counted but left out of the curve, so play a little longer.`;

function show() {
  const stats = playhead.stats();
  document.getElementById('session').textContent = tracking.session ? tracking.session.id : 'not started';
  for (const name of ['sent', 'queued', 'overflowed']) {
    document.getElementById(name).textContent = String(stats[name] + (name === 'sent' ? stats.sentByBeacon : 0));
  }
  document.getElementById('failed').textContent = String(stats.failedSends);
}
setInterval(show, 500);
show();
