// Types of @playhead/player (the sources are plain JavaScript with JSDoc).

export interface WireEvent {
  event_type: 'custom_event';
  data: {
    custom_event_type: 'media';
    event_name: string;
    event_id: string;
    timestamp_unixtime_ms: number;
    custom_attributes: Record<string, string | number | boolean>;
  };
}

export interface PlayheadOptions {
  /** The gateway's address, e.g. "http://127.0.0.1:8080". */
  endpoint: string;
  /** A write key (sent as ?key=). Needed once the gateway has write keys. */
  writeKey?: string;
  /** The organization, for a gateway without write keys (sent as ?organizationId=). */
  organization?: string;
  /** Events per request, 1 to 500 (default 20). */
  batchSize?: number;
  /** ms between sends of whatever is waiting (default 5000). */
  batchInterval?: number;
  /** ms between progress heartbeats while playing (default 10000). */
  heartbeatInterval?: number;
  /** Events kept unsent at most; the oldest batches beyond it are dropped and counted (default 1000). */
  queueLimit?: number;
  /** ms before the first retry; doubles per failure (default 1000). */
  retryBase?: number;
  /** ms, the longest wait between retries (default 60000). */
  retryMax?: number;
  /** ms after which an outbox another page left unsaved is taken over (default 30000). */
  adoptAfter?: number;
  /** Called when events are dropped because the queue is full. */
  onOverflow?: (dropped: number, totalDropped: number) => void;
  // Seams for tests and unusual hosts; the browser's own by default.
  storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem' | 'key' | 'length'> | null;
  fetch?: typeof fetch | null;
  sendBeacon?: ((url: string, body: string) => boolean) | null;
  window?: Pick<Window, 'addEventListener' | 'removeEventListener'> | null;
  document?: Pick<Document, 'addEventListener' | 'removeEventListener' | 'visibilityState'> | null;
  navigator?: { onLine?: boolean; sendBeacon?: (url: string, body: string) => boolean } | null;
  now?: () => number;
  random?: () => number;
  newId?: () => string;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  setInterval?: (fn: () => void, ms: number) => unknown;
  clearInterval?: (handle: unknown) => void;
}

export interface SessionOptions {
  clipId: string;
  sessionId?: string;
  /** The clip's length, seconds. */
  duration?: number;
  /** The session's source (default "web"). */
  source?: string;
  /** Extra attributes on every event of the session. */
  attributes?: Record<string, string | number | boolean>;
}

export declare class PlaybackSession {
  readonly id: string;
  readonly clipId: string;
  readonly playing: boolean;
  play(position: number): void;
  pause(position: number): void;
  seek(from: number, to: number): void;
  progress(position: number): void;
  startup(millis: number, position?: number): void;
  bufferStart(position: number): void;
  bufferEnd(position: number, millis?: number): void;
  error(code: string | number, message: string, position: number): void;
  end(position: number): void;
}

export interface Stats {
  /** Events the gateway acknowledged. */
  sent: number;
  /** Events handed to navigator.sendBeacon when the page went away. */
  sentByBeacon: number;
  /** Requests that failed and will be retried. */
  failedSends: number;
  /** Events the gateway refused for good (4xx other than 408 and 429). */
  rejected: number;
  /** Events taken over from pages that went away. */
  adopted: number;
  /** Events waiting to be sent. */
  queued: number;
  /** Events dropped because the queue was full (kept across reloads). */
  overflowed: number;
}

export interface Tracking {
  readonly session: PlaybackSession | null;
  detach(): void;
}

export interface Playhead {
  track(element: HTMLMediaElement, options: Omit<SessionOptions, 'sessionId'>): Tracking;
  session(options: SessionOptions): PlaybackSession;
  flush(): Promise<void>;
  stats(): Stats;
  stop(): void;
}

export declare function createPlayhead(options: PlayheadOptions): Playhead;
export declare function endpointUrl(endpoint: string, writeKey?: string, organization?: string): string;
export declare const ROUTE: string;
/** ms before retry number `attempts` (1-based): exponential with jitter, capped, at least Retry-After. */
export declare function retryDelay(attempts: number, retryAfter: string | null,
  options: { retryBase: number; retryMax: number; random: () => number }): number;
