// The registry of second-layer adapters (the contract they follow is in api.ts): what the l2.* methods read.

import type { Layer2Adapter } from './api.js';
import { rpcError } from '../../core/errors.js';

export class Layer2Registry {
  private readonly adapters: Layer2Adapter[] = [];

  add(a: Layer2Adapter): void {
    if (this.adapters.some((x) => x.protocol === a.protocol && x.backend === a.backend))
      throw new Error(`layer2 adapter ${a.protocol}/${a.backend} registered twice`);
    this.adapters.push(a);
  }

  list(): Layer2Adapter[] {
    return [...this.adapters];
  }

  /** The adapter for a protocol: the named backend, or the only one; otherwise a clear InvalidParams. */
  find(protocol: string, backend?: string): Layer2Adapter {
    const of = this.adapters.filter((a) => a.protocol === protocol);
    if (of.length === 0)
      throw rpcError(
        'InvalidParams',
        `no ${protocol} adapter is configured (configured: ${this.adapters.map((a) => `${a.protocol}/${a.backend}`).join(', ') || 'none'})`,
      );
    if (backend !== undefined) {
      const a = of.find((x) => x.backend === backend);
      if (!a) throw rpcError('InvalidParams', `no ${protocol} adapter with backend '${backend}' (configured: ${of.map((x) => x.backend).join(', ')})`);
      return a;
    }
    if (of.length > 1)
      throw rpcError('InvalidParams', `several ${protocol} adapters are configured (${of.map((x) => x.backend).join(', ')}): name one with backend`);
    return of[0]!;
  }
}
