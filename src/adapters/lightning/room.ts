// The Lightning room: Core Lightning, LND and/or an embedded LDK node behind the Layer2 contract, one ln.* surface over them, and the
// ln.* events. A backend that is not enabled loads none of its code (ln-service and its gRPC stack are only
// imported when lnd.enable is set, LDK's wasm only when ldk.enable is).

import { LN_METHODS } from './declarations.js';
import type { Room } from '../../core/room.js';
import type { Service } from '../../core/service.js';
import { HSM } from '../../hsm/api.js';
import { BITCOIN } from '../bitcoin/api.js';
import { WALLET } from '../../wallet/api.js';
import { L2 } from '../layer2/api.js';
import type { BackendName, LightningBackend } from './backend.js';
import type { Configured } from './methods.js';
import type { LnRecords } from './records.js';
import { LIGHTNING_OPTIONS } from './options.js';
import { LN_TOPICS } from './topics.js';

export const lightningRoom: Room = {
  name: 'lightning',
  requires: [HSM, L2, BITCOIN, WALLET],
  methods: LN_METHODS,
  options: LIGHTNING_OPTIONS,
  topics: LN_TOPICS,
  create: async ({ config, store, bus, log, use }) => {
    const wantCln = config.bool('cln.enable');
    const wantLnd = config.bool('lnd.enable');
    const hsm = use(HSM);
    const chain = use(BITCOIN);
    const wantLdk = config.isSet('ldk.enable') ? config.bool('ldk.enable') : ldkByDefault();
    if (!wantCln && !wantLnd && !wantLdk) return {};
    const fallback = config.str('ln.default') as 'auto' | BackendName;
    const wanted: Record<BackendName, boolean> = { cln: wantCln, lnd: wantLnd, ldk: wantLdk };
    if (fallback !== 'auto' && !wanted[fallback]) throw new Error(`ln.default=${fallback}, but ${fallback}.enable is not set`);
    // Loaded only when a backend is on (the BOLT11 decoder alone costs ~0.1 s at start).
    const [{ LightningAdapter }, { BackendChooser, lnMethods }, { LIGHTNING_MIGRATIONS, LnRecords }, { NodeWatch }, { Preimages }] = await Promise.all([
      import('./adapter.js'),
      import('./methods.js'),
      import('./records.js'),
      import('./watch.js'),
      import('./preimages.js'),
    ]);
    // Payment preimages are kept sealed by the HSM room (created before this one, src/daemon/rooms.ts), or not kept
    // at all without one: the node's own record is the proof of payment then (preimages.ts says why).
    if (!hsm)
      log.warn(
        'no HSM room (hsm.provider is not set): anyad keeps no payment preimages; ln.listpayments reads them from the node, which holds the proof of payment',
      );
    const db = await store.room('lightning', LIGHTNING_MIGRATIONS);
    // The room's key range compacted, so values it replaced (a preimage rewritten sealed) leave the LevelDB files.
    const compactRoom = (): Promise<void> => store.compact(db);
    const backends: Array<{ backend: LightningBackend; records: LnRecords }> = [];
    if (wantCln) {
      const [{ ClnBackend }, { ClnClient }] = await Promise.all([import('./cln.js'), import('./cln-client.js')]);
      const records = new LnRecords({ db, store, bus, backend: 'cln' });
      const client = new ClnClient(config.path('cln.rpcfile')!, config.int('cln.timeout') * 1000);
      backends.push({ records, backend: new ClnBackend({ client, records, network: config.network, log: log.child({ backend: 'cln' }) }) });
    }
    if (wantLnd) {
      const { LndBackend } = await import('./lnd.js');
      const records = new LnRecords({ db, store, bus, backend: 'lnd' });
      const settings = {
        socket: config.str('lnd.socket')!,
        tlscertpath: config.path('lnd.tlscertpath'),
        macaroonpath: config.path('lnd.macaroonpath')!,
        timeoutMs: config.int('lnd.timeout') * 1000,
      };
      backends.push({ records, backend: new LndBackend({ settings, records, network: config.network, log: log.child({ backend: 'lnd' }) }) });
    }
    if (wantLdk) {
      // The embedded node needs the chain (bitcoin room) and a seed (HSM room): refused by name without them.
      if (!chain) throw new Error('ldk.enable needs the bitcoin room (a bitcoind or bcoin node to follow)');
      if (!hsm) throw new Error('ldk.enable needs the HSM room (hsm.provider=software): the node derives its keys from the keystore seed');
      const { LdkBackend } = await import('./ldk-backend.js');
      const records = new LnRecords({ db, store, bus, backend: 'ldk' });
      // LDK has no stream of invoices made: ln.createinvoice publishes ln.invoice created itself.
      records.followsCreated = false;
      const backend = new LdkBackend({
        db,
        store,
        chain,
        hsm,
        wallet: use(WALLET),
        records,
        network: config.network,
        log: log.child({ backend: 'ldk' }),
        host: config.str('ldk.host')!,
        port: config.int('ldk.port'),
        fallbackFeeSatKw: config.int('ldk.fallbackfee'),
        connectTimeoutMs: 10_000,
      });
      backends.push({ records, backend });
    }
    const configured = new Map<BackendName, Configured>();
    const services: Service[] = [];
    const l2 = use(L2);
    for (const { backend, records } of backends) {
      const preimages = new Preimages({ hsm, backend, records, log: log.child({ backend: backend.backend }), compact: compactRoom });
      const parts = { backend, records, preimages, bus, network: config.network };
      const watch = new NodeWatch(parts, config.int('ln.watchinterval'), log.child({ backend: backend.backend }));
      // A backend that attaches after the start takes the watch's baseline before it lets callers through, so no
      // change made through anyad is folded into the baseline unreported.
      backend.beforeReady = () => watch.tick();
      const adapter = new LightningAdapter(parts);
      configured.set(backend.backend, { ...parts, watch });
      l2?.register(adapter);
      // The adapter is the service: opening it connects the backend, closing it disconnects.
      services.push(adapter, watch);
    }
    return { services, methods: lnMethods(new BackendChooser(configured, fallback === 'auto' ? undefined : fallback)) };

    /**
     * ldk.enable unset: on regtest the embedded node is the Lightning of a box with no other, as the embedded chain
     * and keystore are its node and keys, so the start command has a whole node. Only where it can run: with the
     * chain and a seed (not a PKCS#11 token), and never beside an LND or CLN the user set up.
     */
    function ldkByDefault(): boolean {
      if (config.network !== 'regtest' || wantCln || wantLnd) return false;
      const why = !chain ? 'no bitcoin room' : !hsm ? 'no HSM room' : hsm.lightningSeedRefusal();
      if (why) log.info({ reason: why }, 'no embedded Lightning node on regtest (ldk.enable unset)');
      return !why;
    }
  },
};
