// The Node owns the services: it opens them in dependency order and closes them in reverse, records which one is
// opening (the stage RPC callers see as -28), and answers for everyone's health.

import type { Logger } from 'pino';
import type { Health, Service } from '../core/service.js';

export class StartupError extends Error {
  override name = 'StartupError';
}

export class Node {
  private readonly services: Service[] = [];
  private readonly opened: Service[] = [];
  private stage: string | undefined = 'initializing';

  constructor(private readonly log: Logger) {}

  add(service: Service): void {
    if (this.services.some((s) => s.name === service.name)) throw new Error(`service '${service.name}' added twice`);
    this.services.push(service);
  }

  /** A service the daemon opened itself before the others (the state's disk watch): in health, closed last. */
  addOpened(service: Service): void {
    this.add(service);
    this.opened.push(service);
  }

  /** The name of what is being opened, or undefined once the start is complete. */
  warmupStage(): string | undefined {
    return this.stage;
  }

  setStage(stage: string | undefined): void {
    this.stage = stage;
  }

  /** Services in an order where each comes after everything it requires. Throws on unknown names and cycles. */
  order(): Service[] {
    const byName = new Map(this.services.map((s) => [s.name, s]));
    const done = new Set<string>();
    const visiting = new Set<string>();
    const out: Service[] = [];
    const visit = (s: Service, path: string[]): void => {
      if (done.has(s.name)) return;
      if (visiting.has(s.name)) throw new StartupError(`service dependency cycle: ${[...path, s.name].join(' -> ')}`);
      visiting.add(s.name);
      for (const dep of s.requires ?? []) {
        const d = byName.get(dep);
        if (!d) throw new StartupError(`service '${s.name}' requires '${dep}', which is not configured`);
        visit(d, [...path, s.name]);
      }
      visiting.delete(s.name);
      done.add(s.name);
      out.push(s);
    };
    for (const s of this.services) visit(s, []);
    return out;
  }

  /**
   * Opens every service. A required one that fails closes what was opened (in reverse) and throws StartupError;
   * an optional one that fails is logged, stays in the list with its health, and the start goes on.
   */
  async open(onStage?: (stage: string) => void): Promise<void> {
    for (const s of this.order()) {
      if (this.opened.includes(s)) continue;
      this.stage = `opening ${s.name}`;
      onStage?.(this.stage);
      const t0 = performance.now();
      try {
        await s.open();
        this.opened.push(s);
        this.log.info({ service: s.name, ms: Math.round(performance.now() - t0) }, 'service opened');
      } catch (err) {
        const reason = (err as Error).message;
        if (!s.optional) {
          this.log.error({ service: s.name, reason }, 'required service failed to open');
          await this.close();
          throw new StartupError(`service '${s.name}' failed to open: ${reason}`);
        }
        // An optional backend keeps its own retry loop; until it comes back, health reports the reason. Services
        // that require it still open: they see its health and its public interface answers "unavailable".
        this.opened.push(s);
        this.log.warn({ service: s.name, reason }, 'optional service unavailable; anyad continues without it');
      }
    }
    this.stage = undefined;
  }

  /** Closes in reverse order; a service that does not finish within perServiceMs is logged and left behind. */
  async close(perServiceMs = 30_000): Promise<void> {
    while (this.opened.length > 0) {
      const s = this.opened.pop()!;
      let timer: NodeJS.Timeout | undefined;
      try {
        const late = new Promise<'late'>((r) => {
          timer = setTimeout(() => r('late'), perServiceMs);
        });
        if ((await Promise.race([s.close().then(() => 'closed' as const), late])) === 'late') {
          this.log.error({ service: s.name, ms: perServiceMs }, 'service did not close in time; stopping without it');
          continue;
        }
        this.log.info({ service: s.name }, 'service closed');
      } catch (err) {
        this.log.error({ service: s.name, reason: (err as Error).message }, 'service failed to close cleanly');
      } finally {
        clearTimeout(timer);
      }
    }
  }

  async reload(): Promise<void> {
    for (const s of this.opened) {
      if (!s.reload) continue;
      try {
        await s.reload();
      } catch (err) {
        this.log.error({ service: s.name, reason: (err as Error).message }, 'service reload failed');
      }
    }
  }

  health(): Record<string, Health> {
    const out: Record<string, Health> = {};
    for (const s of this.services) out[s.name] = s.health();
    return out;
  }
}
