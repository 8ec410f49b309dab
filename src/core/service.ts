// The service contract: every room that holds a resource (a database, a backend connection, an HSM session)
// exposes one, and the Node opens them in dependency order and closes them in reverse.

export type HealthState = 'starting' | 'ok' | 'degraded' | 'unavailable' | 'failed' | 'stopped';

export interface Health {
  state: HealthState;
  /** Plain words for an operator: why it is not ok, or what it is connected to. Never a secret. */
  detail: string;
  /** ISO time of the last state change. */
  since: string;
}

export interface Service {
  readonly name: string;
  /** Names of services that must be open before this one. */
  readonly requires?: readonly string[];
  /**
   * An optional service is a backend the daemon can live without (bitcoind, lnd): if it cannot open, anyad runs
   * on, its health says why, and it is expected to retry by itself. A required one stops the start.
   */
  readonly optional?: boolean;
  open(): Promise<void>;
  close(): Promise<void>;
  health(): Health;
  /** SIGHUP: re-read what can be re-read without a restart. */
  reload?(): Promise<void>;
}

/** Tracks a service's health with the time of the last change. */
export class HealthCell {
  private value: Health;
  constructor(state: HealthState = 'starting', detail = '') {
    this.value = { state, detail, since: new Date().toISOString() };
  }
  set(state: HealthState, detail: string): void {
    if (state !== this.value.state || detail !== this.value.detail) this.value = { state, detail, since: new Date().toISOString() };
  }
  get(): Health {
    return this.value;
  }
}
