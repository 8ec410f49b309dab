// The RGB room against two RGB Lightning Node test peers (test/peers/rgb-node: the openapi.yaml request and answer
// shapes, APIError bodies, transfer states as rgb-lib moves them, real BTC transactions on a shared bcoin regtest
// chain; see its header for what it does not prove), each followed by its own anyad: unlock, createutxos, issue on
// A, invoice on B, send from A, refresh to settled on both sides, with rgb.* events on WebSockets; refusals before
// anything reaches the node (wrong-network invoice, bad asset id, fee cap) and the node's own (unknown asset, not
// enough assets, locked); the node stopped (-32010 at once, stale lists) and restarted locked; a change made while
// anyad was down reported once when it is back, and nothing reported twice across restarts.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fund, startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { call, closeAll, unixChannel, wsChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { RgbNodePeer, RgbProxy } from '../peers/rgb-node.js';

interface Ev {
  topic: string;
  data: Record<string, unknown>;
}

/** A daemon's Unix channel and a WebSocket subscribed to rgb.*, every event it gets kept in order. */
async function follow(d: RunningDaemon): Promise<{ ch: Channel; ws: Channel; events: Ev[] }> {
  const ch = await unixChannel(d.socket);
  const ws = await wsChannel(d.wsUrl!, await d.cookie());
  await call(ws, 'subscribe', { topics: ['rgb.*'] });
  const events: Ev[] = [];
  let open = true;
  void ws.closed.then(() => (open = false));
  void (async () => {
    // Short waits, so nothing keeps the test process alive once the socket is closed.
    while (open) {
      const m = (await ws.next(500).catch(() => undefined)) as { method?: string; params?: Ev } | undefined;
      if (m?.method === 'event') events.push({ topic: m.params!.topic, data: m.params!.data });
    }
  })();
  return { ch, ws, events };
}

const transfersOf = (events: Ev[]): Array<Record<string, unknown>> => events.filter((e) => e.topic === 'rgb.transfer').map((e) => e.data);

async function rpcError(p: Promise<unknown>): Promise<{ code: number; message: string; data?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as { code: number; message: string; data?: Record<string, unknown> };
  }
  throw new Error('expected an error');
}

describe('RGB over RGB Lightning Node test peers', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let chain: BcoinNode;
  let a: RgbNodePeer;
  let b: RgbNodePeer;
  let da: RunningDaemon;
  let db: RunningDaemon;
  let A: { ch: Channel; ws: Channel; events: Ev[] };
  let B: { ch: Channel; ws: Channel; events: Ev[] };
  let assetId = '';
  const unlock = { password: 'pw-a', bitcoind_rpc_username: 'u', bitcoind_rpc_password: 'p', bitcoind_rpc_host: '127.0.0.1', bitcoind_rpc_port: 18443 };
  const argsFor = (p: RgbNodePeer, extra: string[] = []): string[] => [
    `-rgb.url=${p.url}`,
    '-rgb.watchinterval=200',
    '-nobitcoind.enable',
    '-noml.enable',
    ...extra,
  ];

  before(async () => {
    dir = await tempDir();
    chain = await startBcoin(dir.path);
    const proxy = new RgbProxy();
    a = new RgbNodePeer({ proxy, chain, password: 'pw-a', token: 'tok-a.b64' });
    b = new RgbNodePeer({ proxy, chain, password: 'pw-b' });
    await a.start();
    await b.start();
    a.credit(await fund(chain, { address: a.address, script: a.script } as never));
    b.credit(await fund(chain, { address: b.address, script: b.script } as never));
    await writeFile(join(dir.path, 'a.token'), 'tok-a.b64\n', { mode: 0o600 });
    da = await startDaemon(join(dir.path, 'anya-a'), { args: argsFor(a, [`-rgb.tokenfile=${join(dir.path, 'a.token')}`, '-rgb.maxfeerate=50']) });
    db = await startDaemon(join(dir.path, 'anya-b'), { args: argsFor(b) });
    A = await follow(da);
    B = await follow(db);
  });
  after(() => closeAll(A?.ch, A?.ws, B?.ch, B?.ws, da, db, a, b, chain, dir));

  it('a locked node: health degraded, calls refused with Locked at once; rgb.unlock (wrong password refused) opens it', async () => {
    const h = await until('locked seen', async () => {
      const x = await call<{ services: Record<string, { state: string; detail: string }> }>(A.ch, 'health');
      return x.services.rgb?.state === 'degraded' ? x.services.rgb : undefined;
    });
    assert.match(h.detail, /locked/);
    const e = await rpcError(call(A.ch, 'rgb.listassets'));
    assert.equal(e.code, -32012);
    assert.match(e.message, /locked/);
    const wrong = await rpcError(call(A.ch, 'rgb.unlock', { ...unlock, password: 'nope' }));
    assert.match(wrong.message, /password is incorrect/);
    assert.doesNotMatch(JSON.stringify(wrong), /nope/);
    const ok = await call<{ state: string }>(A.ch, 'rgb.unlock', unlock);
    assert.equal(ok.state, 'ok');
    assert.equal((await call<{ state: string }>(B.ch, 'rgb.unlock', { ...unlock, password: 'pw-b' })).state, 'ok');
    const info = await call<{ pubkey: string; network: string }>(A.ch, 'rgb.getinfo');
    assert.deepEqual([info.pubkey, info.network], [a.pubkey, 'Regtest']);
    // The token went to the node with every call: the peer refuses calls without it, and refused none of anyad's
    // (its one 401 is the wrong password).
    assert.equal((await fetch(`${a.url}/nodeinfo`)).status, 401);
    assert.deepEqual(
      a.seen.filter(([, status]) => status === 401).map(([p]) => p),
      ['/unlock', '/nodeinfo'],
    );
  });

  it('issue on A (needs colorable UTXOs first): rgb.asset and the issuance reported once, with the label', async () => {
    const noUtxo = await rpcError(call(A.ch, 'rgb.issueasset', { schema: 'nia', ticker: 'USDT', name: 'Tether', amounts: [1000] }));
    assert.match(noUtxo.message, /createutxos/);
    assert.equal((await call<{ created: boolean }>(A.ch, 'rgb.createutxos', { fee_rate: 2 })).created, true);
    await call(B.ch, 'rgb.createutxos', { fee_rate: 2 });
    const over = await rpcError(call(A.ch, 'rgb.createutxos', { fee_rate: 60 }));
    assert.equal(over.code, -32013);
    assert.equal(over.data?.rule, 'rgb.maxfeerate');
    await chain.mine(1);
    const issued = await call<{ asset_id: string; issued_supply: number; label: string }>(A.ch, 'rgb.issueasset', {
      schema: 'nia',
      ticker: 'USDT',
      name: 'Tether',
      amounts: [1000],
      label: 'launch',
    });
    assetId = issued.asset_id;
    assert.match(assetId, /^rgb:/);
    assert.equal(issued.issued_supply, 1000);
    const ev = await until('rgb.asset', async () => A.events.find((e) => e.topic === 'rgb.asset'));
    assert.deepEqual([ev.data.asset_id, ev.data.label, ev.data.ticker], [assetId, 'launch', 'USDT']);
    const iss = await until('issuance event', async () => transfersOf(A.events).find((t) => t.kind === 'issuance'));
    assert.deepEqual([iss.status, iss.previous, iss.amount], ['settled', null, 1000]);
    const list = await call<{ stale: boolean; assets: Array<{ asset_id: string; balance: { settled: number; spendable: number } }> }>(A.ch, 'rgb.listassets');
    assert.equal(list.stale, false);
    assert.deepEqual(
      list.assets.map((x) => [x.asset_id, x.balance.settled, x.balance.spendable]),
      [[assetId, 1000, 1000]],
    );
  });

  it('cfa and uda issuance, each schema’s rules checked in anyad; a Lightning invoice for an asset amount', async () => {
    const e1 = await rpcError(call(A.ch, 'rgb.issueasset', { schema: 'cfa', ticker: 'ART', name: 'Art', amounts: [5] }));
    assert.deepEqual([e1.code, e1.data?.field], [-32602, 'ticker']);
    const e2 = await rpcError(call(A.ch, 'rgb.issueasset', { schema: 'uda', ticker: 'ONE', name: 'One', amounts: [1] }));
    assert.deepEqual([e2.code, e2.data?.field], [-32602, 'amounts']);
    const e3 = await rpcError(call(A.ch, 'rgb.issueasset', { schema: 'nia', name: 'No ticker', amounts: [5] }));
    assert.deepEqual([e3.code, e3.data?.field], [-32602, 'ticker']);
    const cfa = await call<{ asset_id: string; schema: string; issued_supply: number }>(A.ch, 'rgb.issueasset', {
      schema: 'cfa',
      name: 'Collectible',
      details: 'a print run of 5',
      amounts: [5],
    });
    const uda = await call<{ asset_id: string; schema: string; issued_supply: number; ticker: string }>(A.ch, 'rgb.issueasset', {
      schema: 'uda',
      ticker: 'ONE',
      name: 'The one',
    });
    assert.deepEqual([cfa.schema, cfa.issued_supply, uda.schema, uda.issued_supply, uda.ticker], ['cfa', 5, 'uda', 1, 'ONE']);
    const nia = await call<{ assets: Array<{ asset_id: string }> }>(A.ch, 'rgb.listassets', { schemas: ['nia'] });
    assert.deepEqual(
      nia.assets.map((x) => x.asset_id),
      [assetId],
    );
    const all = await call<{ assets: Array<{ schema: string }> }>(A.ch, 'rgb.listassets');
    assert.deepEqual(all.assets.map((x) => x.schema).sort(), ['cfa', 'nia', 'uda']);
    await until('both reported', async () =>
      A.events.filter((e) => e.topic === 'rgb.asset' && [cfa.asset_id, uda.asset_id].includes(e.data.asset_id as string)).length === 2 ? true : undefined,
    );
    const ln = await call<{ invoice: string; label: string }>(A.ch, 'rgb.lninvoice', { asset_id: assetId, asset_amount: 10, label: 'ln-10' });
    assert.match(ln.invoice, /^lnbcrt/);
    const hist = await call<{ items: Array<{ operation: string; label: string }> }>(A.ch, 'rgb.history');
    assert.ok(hist.items.some((o) => o.operation === 'lninvoice' && o.label === 'ln-10'));
  });

  it('bad input refused in anyad before the node sees it; the node’s refusals named', async () => {
    const inv = await call<{ invoice: string }>(B.ch, 'rgb.createinvoice', { amount: 5, label: 'probe' });
    const before = a.seen.length;
    const mainnet = inv.invoice.replace('/bcrt:', '/bc:');
    const e1 = await rpcError(call(A.ch, 'rgb.sendasset', { invoice: mainnet, asset_id: assetId, fee_rate: 2 }));
    assert.deepEqual([e1.code, e1.data?.field], [-32602, 'invoice']);
    assert.match(e1.message, /mainnet.*regtest/);
    const e2 = await rpcError(call(A.ch, 'rgb.sendasset', { invoice: inv.invoice, asset_id: 'rgb:nothex', fee_rate: 2 }));
    assert.deepEqual([e2.code, e2.data?.field], [-32602, 'asset_id']);
    const e3 = await rpcError(call(A.ch, 'rgb.sendasset', { invoice: inv.invoice, asset_id: assetId, fee_rate: 51 }));
    assert.equal(e3.code, -32013);
    const e4 = await rpcError(call(A.ch, 'rgb.listtransfers', { asset_id: 'CJkb4YZw' }));
    assert.deepEqual([e4.code, e4.data?.field, e4.data?.node_error], [-32602, 'asset_id', undefined]);
    // Only the follower's periodic looks reached the node meanwhile: none of the refused calls did.
    const reached = a.seen.slice(before).filter(([p]) => p !== '/listassets' && p !== '/listtransfers');
    assert.deepEqual(reached, [], 'nothing of the refused calls reached the node');
    const unknown = 'rgb:CJkb4YZw-jRiz2sk-~PARPio-wtVYI1c-XAEYCqO-wTfvRZ8';
    const e5 = await rpcError(call(A.ch, 'rgb.sendasset', { invoice: inv.invoice, asset_id: unknown, fee_rate: 2 }));
    assert.deepEqual([e5.code, e5.data?.node_error], [-32011, 'UnknownContractId']);
    const e6 = await rpcError(call(A.ch, 'rgb.sendasset', { invoice: inv.invoice, asset_id: assetId, amount: 7, fee_rate: 2 }));
    assert.match(e6.message, /asks for 5/);
    const big = await call<{ invoice: string }>(B.ch, 'rgb.createinvoice', { amount: 5000 });
    const e7 = await rpcError(call(A.ch, 'rgb.sendasset', { invoice: big.invoice, asset_id: assetId, fee_rate: 2 }));
    assert.equal(e7.data?.kind, 'insufficient_assets');
    assert.ok(!a.seen.some(([p]) => p === '/sendasset'), 'no send reached the node');
    // The probes' receives are failed on B, so they do not linger.
    assert.equal((await call<{ transfers_changed: boolean }>(B.ch, 'rgb.failtransfers', {})).transfers_changed, true);
  });

  it('invoice on B, send from A, refresh both: waiting_counterparty → waiting_confirmations → settled on both sides', async () => {
    const inv = await call<{ invoice: string; recipient_id: string; label: string }>(B.ch, 'rgb.createinvoice', { amount: 300, label: 'order-42' });
    const dec = await call<{ amount: number; recipient_id: string; network: string }>(A.ch, 'rgb.decodeinvoice', { invoice: inv.invoice });
    assert.deepEqual([dec.amount, dec.recipient_id, dec.network], [300, inv.recipient_id, 'Regtest']);
    const sent = await call<{ txid: string; amount: number }>(A.ch, 'rgb.sendasset', { invoice: inv.invoice, asset_id: assetId, fee_rate: 2, label: 'pay-42' });
    assert.equal(sent.amount, 300);
    const w1 = await until('send waiting', async () => transfersOf(A.events).find((t) => t.kind === 'send' && t.status === 'waiting_counterparty'));
    assert.deepEqual([w1.txid, w1.label, w1.previous], [sent.txid, 'pay-42', null]);
    await call(B.ch, 'rgb.refresh');
    const r1 = await until('receive waiting confirmations', async () =>
      transfersOf(B.events).find((t) => t.recipient_id === inv.recipient_id && t.status === 'waiting_confirmations'),
    );
    assert.deepEqual([r1.label, r1.amount, r1.asset_id, r1.txid], ['order-42', 300, assetId, sent.txid]);
    assert.ok(
      B.events.some((e) => e.topic === 'rgb.asset' && e.data.asset_id === assetId),
      'B learned the asset',
    );
    await call(A.ch, 'rgb.refresh');
    await until('send broadcast', async () => transfersOf(A.events).find((t) => t.kind === 'send' && t.status === 'waiting_confirmations'));
    assert.ok((await chain.rpc<string[]>('getrawmempool')).includes(sent.txid), 'the BTC side is on the chain');
    await chain.mine(1);
    await call(A.ch, 'rgb.refresh');
    await call(B.ch, 'rgb.refresh');
    await until('A settled', async () => transfersOf(A.events).find((t) => t.kind === 'send' && t.status === 'settled'));
    await until('B settled', async () => transfersOf(B.events).find((t) => t.recipient_id === inv.recipient_id && t.status === 'settled'));
    const ba = await call<{ settled: number }>(A.ch, 'rgb.assetbalance', { asset_id: assetId });
    const bb = await call<{ settled: number }>(B.ch, 'rgb.assetbalance', { asset_id: assetId });
    assert.deepEqual([ba.settled, bb.settled], [700, 300]);
    const hist = await call<{ items: Array<{ operation: string; label: string }> }>(A.ch, 'rgb.history');
    assert.deepEqual(hist.items[0] && [hist.items[0].operation, hist.items[0].label], ['send', 'pay-42']);
    assert.ok(hist.items.some((o) => o.operation === 'issue' && o.label === 'launch'));
    const l2 = await call<{ status: string; operation: string }>(A.ch, 'l2.status', { protocol: 'rgb', id: sent.txid });
    assert.deepEqual([l2.operation, l2.status], ['asset.transfer', 'settled']);
    // Each status of each transfer reported once.
    for (const side of [A, B]) {
      const keys = transfersOf(side.events).map((t) => `${t.asset_id}:${t.idx}:${t.status}`);
      assert.equal(new Set(keys).size, keys.length, `no repeats: ${keys.join(' ')}`);
    }
  });

  it('the node stopped: -32010 at once, stale lists; back locked, then unlocked through anyad', async () => {
    await b.stop();
    const t0 = Date.now();
    const e = await until('unreachable', async () => {
      const r = await rpcError(call(B.ch, 'rgb.assetbalance', { asset_id: assetId }));
      return r.code === -32010 ? r : undefined;
    });
    assert.ok(Date.now() - t0 < 5000, 'refused at once, not after rgb.timeout');
    assert.match(e.message, /not reachable|unreachable/);
    const stale = await call<{ stale: boolean; transfers: Array<{ status: string }> }>(B.ch, 'rgb.listtransfers', { asset_id: assetId });
    assert.equal(stale.stale, true);
    assert.ok(stale.transfers.length > 0);
    await b.start();
    await until('back, locked', async () => {
      const x = await call<{ services: Record<string, { state: string }> }>(B.ch, 'health');
      return x.services.rgb?.state === 'degraded' ? true : undefined;
    });
    assert.equal((await call<{ state: string }>(B.ch, 'rgb.unlock', { ...unlock, password: 'pw-b' })).state, 'ok');
  });

  it('anyad down while transfers move: reported once when it is back; a second restart repeats nothing', async () => {
    await until('B usable again', async () => ((await call<{ state: string }>(B.ch, 'rgb.getinfo')).state === 'ok' ? true : undefined));
    const inv = await call<{ invoice: string; recipient_id: string }>(B.ch, 'rgb.createinvoice', { amount: 50, label: 'while-down' });
    await call(A.ch, 'rgb.sendasset', { invoice: inv.invoice, asset_id: assetId, fee_rate: 2 });
    const seenBefore = transfersOf(B.events).length;
    B.ch.close();
    B.ws.close();
    assert.equal(await db.kill('SIGKILL'), 'SIGKILL');
    // B's node moves on without anyad: accepts the consignment; A broadcasts; a block; B settles.
    await fetchNode(b, '/refreshtransfers', { skip_sync: false });
    await call(A.ch, 'rgb.refresh');
    await chain.mine(1);
    await fetchNode(b, '/refreshtransfers', { skip_sync: false });
    db = await startDaemon(join(dir.path, 'anya-b'), { args: argsFor(b) });
    B = await follow(db);
    const back = await until('reported after restart', async () => transfersOf(B.events).find((t) => t.recipient_id === inv.recipient_id));
    assert.deepEqual([back.status, back.previous, back.label], ['settled', null, 'while-down']);
    await call(B.ch, 'rgb.refresh');
    assert.equal(transfersOf(B.events).length, 1, 'only the change made while anyad was down');
    assert.ok(seenBefore > 0);
    B.ch.close();
    B.ws.close();
    await db.kill('SIGTERM');
    db = await startDaemon(join(dir.path, 'anya-b'), { args: argsFor(b) });
    B = await follow(db);
    await until('attached', async () => ((await call<{ state: string }>(B.ch, 'rgb.getinfo')).state === 'ok' ? true : undefined));
    await call(B.ch, 'rgb.refresh');
    assert.deepEqual(transfersOf(B.events), [], 'nothing repeated after a clean restart');
  });

  it('24 concurrent sends over the socket: exactly as many as the spendable balance covers succeed, none overdraws', async () => {
    await call(A.ch, 'rgb.createutxos', { fee_rate: 2, num: 30, size: 1000 });
    const spendable = (await call<{ spendable: number }>(A.ch, 'rgb.assetbalance', { asset_id: assetId })).spendable;
    const invoices = await Promise.all(Array.from({ length: 24 }, () => call<{ invoice: string }>(B.ch, 'rgb.createinvoice', { amount: 40 })));
    const chans = await Promise.all(invoices.map(() => unixChannel(da.socket)));
    const results = await Promise.all(invoices.map((inv, i) => chans[i]!.call('rgb.sendasset', { invoice: inv.invoice, asset_id: assetId, fee_rate: 2 })));
    for (const c of chans) c.close();
    const ok = results.filter((r) => r.result).length;
    const refused = results.filter((r) => r.error);
    assert.equal(ok, Math.min(24, Math.floor(spendable / 40)));
    assert.ok(
      refused.every((r) => (r.error!.data as { kind?: string }).kind === 'insufficient_assets'),
      JSON.stringify(refused[0]),
    );
    const after = await call<{ spendable: number }>(A.ch, 'rgb.assetbalance', { asset_id: assetId });
    assert.equal(after.spendable, spendable - ok * 40);
    assert.ok(after.spendable >= 0);
  });

  it('a node on another network is refused for good: health failed, calls Unsupported, nothing sent to it', async () => {
    const other = new RgbNodePeer({ proxy: new RgbProxy(), chain, password: 'pw', network: 'Testnet' });
    await other.start();
    other.unlockDirect();
    const d = await startDaemon(join(dir.path, 'anya-c'), { args: argsFor(other) });
    try {
      const ch = await unixChannel(d.socket);
      const h = await until('failed', async () => {
        const x = await call<{ services: Record<string, { state: string; detail: string }> }>(ch, 'health');
        return x.services.rgb?.state === 'failed' ? x.services.rgb : undefined;
      });
      assert.match(h.detail, /Testnet.*regtest/);
      const e = await rpcError(call(ch, 'rgb.listassets'));
      assert.equal(e.code, -32017);
      ch.close();
      assert.deepEqual(
        other.seen.map(([p]) => p),
        ['/networkinfo'],
      );
    } finally {
      await d.kill();
      await other.stop();
    }
  });
});

/** Calls the node directly (another program using it while anyad is down). */
async function fetchNode(p: RgbNodePeer, path: string, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${p.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.text());
}
