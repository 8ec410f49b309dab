// Issue 26: every signature the DLC room asks of the HSM carries its ContractSigning context (src/hsm/room.ts): kind
// 'dlc', the contract, the counterparty's funding key, the purpose, and what this side can lose by it (its own
// collateral for the funding, a CET or the refund; its collateral minus its payout for a mutual close), never the
// counterparty's collateral. Alice's anyad runs in this process with the real HSM room, whose API is wrapped to
// record each call's context (the signatures are the real HSM's); Bob's is a real anyad process. Alice offers one
// contract (12 of 20 M sat hers) and accepts another of Bob's (7 of 20 M sat hers). Issue 35: the HSM room's audit
// entries of those signatures name the RPC call that caused each (callerOf: "unix#<connection> dlc.<method>") and
// the contract and counterparty in their contract detail.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeAccept, decodeOffer } from '../../src/adapters/dlc/messages.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { ROOMS } from '../../src/daemon/rooms.js';
import type { Room } from '../../src/core/room.js';
import { hsmRoom } from '../../src/hsm/room.js';
import type { ContractSigning, HsmApi } from '../../src/hsm/api.js';
import { startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { call, unixChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { startInProcess } from '../helpers/inproc.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { until } from '../helpers/until.js';
import { enumDescriptor, makeOracle } from '../peers/dlc-oracle.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The HSM room, its API wrapped to record the contract context of every signature another room asks for. */
function recordingHsm(seen: Array<{ call: string; contract: ContractSigning | undefined }>): Room {
  return {
    ...hsmRoom,
    create: async (ctx) => {
      const parts = await hsmRoom.create(ctx);
      const api = parts.api as HsmApi | undefined;
      if (!api) return parts;
      const wrapped: HsmApi = {
        ...api,
        signDigest: (id, digest, caller, contract) => (seen.push({ call: 'signDigest', contract }), api.signDigest(id, digest, caller, contract)),
        adaptorSignAll: (id, items, caller, contract) => (seen.push({ call: 'adaptorSignAll', contract }), api.adaptorSignAll(id, items, caller, contract)),
        signPsbt: (b64, caller, contract) => (seen.push({ call: 'signPsbt', contract }), api.signPsbt(b64, caller, contract)),
      };
      return { ...parts, api: wrapped };
    },
  };
}

describe('DLC: the contract context of every signature', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let alice: { daemon: Daemon; ch: Channel; address: string };
  let bob: { d: RunningDaemon; ch: Channel; address: string };
  const seen: Array<{ call: string; contract: ContractSigning | undefined }> = [];
  /** Alice's two contracts (hers, then Bob's she accepted), each with its counterparty's funding key. */
  const contracts: Array<{ contract: string; counterparty: string }> = [];

  const wallet = async (ch: Channel, label: string): Promise<string> => {
    const key = await call<{ id: string }>(ch, 'hsm.generatekey', { label });
    return (await call<{ addresses: { p2wpkh: string } }>(ch, 'hsm.getpubkey', { key: key.id })).addresses.p2wpkh;
  };
  const coinbase = async (hash: string): Promise<{ txid: string; vout: number }> => ({
    txid: (await node.rpc<{ tx: string[] }>('getblock', hash, true, false)).tx[0]!,
    vout: 0,
  });
  const state = async (ch: Channel, id: string): Promise<string> => (await call<{ state: string }>(ch, 'dlc.get', { id })).state;

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    for (const name of ['alice', 'bob']) await writeFile(join(dir.path, `${name}.pass`), `${name}'s keystore passphrase\n`, { mode: 0o600 });
    const rooms = ROOMS.map((r) => (r.name === 'hsm' ? recordingHsm(seen) : r));
    const datadir = join(dir.path, 'alice');
    const daemon = await startInProcess(datadir, rooms, keystorePartyArgs(node, join(dir.path, 'alice.pass'))).started;
    const ach = await unixChannel(join(datadir, 'regtest', 'anya.sock'));
    alice = { daemon, ch: ach, address: await wallet(ach, 'alice coins') };
    const d = await startDaemon(join(dir.path, 'bob'), { args: keystorePartyArgs(node, join(dir.path, 'bob.pass')) });
    const bch = await unixChannel(d.socket);
    bob = { d, ch: bch, address: await wallet(bch, 'bob coins') };
    await until('both connected to the node', async () =>
      (await call<{ state: string }>(alice.ch, 'chain.getinfo')).state === 'connected' &&
      (await call<{ state: string }>(bob.ch, 'chain.getinfo')).state === 'connected'
        ? true
        : undefined,
    );
  });
  after(async () => {
    alice?.ch.close();
    bob?.ch.close();
    await alice?.daemon.stop('test');
    await alice?.daemon.done;
    await bob?.d.kill();
    await node?.stop().catch(() => undefined);
    await dir?.remove();
  });

  it("as offerer and as accepter: funding, CETs, refund and a mutual close carry this side's own amount at risk", async () => {
    const [b1, b2] = await node.mine(2, bob.address);
    const [a1, a2] = await node.mine(2, alice.address);
    await node.mine(100, bob.address);
    const oracle = makeOracle(enumDescriptor(['yes', 'no']), 1, 'context', 'tagged', 1_600_000_000);
    const terms = (offer: number) => ({
      announcement: hex(oracle.ann),
      payouts: [
        { outcome: 'yes', offer_payout_sat: 20_000_000 },
        { outcome: 'no', offer_payout_sat: 0 },
      ],
      offer_collateral_sat: offer,
      total_collateral_sat: 20_000_000,
      fee_rate_sat_vb: 2,
    });

    // Alice offers (12 M sat hers, 8 M Bob's); her signatures are made at dlc.sign, then at the close and the CET.
    const offered = await call<{ id: string; offer: string }>(alice.ch, 'dlc.offer', { ...terms(12_000_000), utxos: [await coinbase(a1!)] });
    const accepted = await call<{ accept: string }>(bob.ch, 'dlc.accept', { offer: offered.offer, utxos: [await coinbase(b1!)] });
    const bobKey = decodeAccept(Buffer.from(accepted.accept, 'hex')).funding_pubkey;
    const signed = await call<{ sign: string }>(alice.ch, 'dlc.sign', { accept: accepted.accept });
    const base = { kind: 'dlc', contract: offered.id, counterparty: bobKey };
    contracts.push({ contract: offered.id, counterparty: bobKey });
    assert.deepEqual(seen.splice(0), [
      { call: 'adaptorSignAll', contract: { ...base, purpose: 'cet', spends_sat: 12_000_000 } },
      { call: 'signDigest', contract: { ...base, purpose: 'refund', spends_sat: 12_000_000 } },
      { call: 'signPsbt', contract: { ...base, purpose: 'funding', spends_sat: 12_000_000 } },
    ]);
    await call(bob.ch, 'dlc.finalize', { sign: signed.sign });
    await node.mine(1, bob.address);
    await until('Alice sees the funding confirmed', async () => ((await state(alice.ch, offered.id)) === 'confirmed' ? true : undefined), 800);
    // A close paying Alice 5 M: she can lose 12 - 5 = 7 M by it. One paying her 15 M: nothing of hers at risk.
    await call(alice.ch, 'dlc.proposeclose', { id: offered.id, payout_sat: 5_000_000 });
    await call(alice.ch, 'dlc.proposeclose', { id: offered.id, payout_sat: 15_000_000 });
    await call(alice.ch, 'dlc.close', { id: offered.id, attestation: hex(oracle.attest(['yes'])) });
    assert.deepEqual(seen.splice(0), [
      { call: 'signDigest', contract: { ...base, purpose: 'close', spends_sat: 7_000_000 } },
      { call: 'signDigest', contract: { ...base, purpose: 'close', spends_sat: 0 } },
      { call: 'signDigest', contract: { ...base, purpose: 'cet', spends_sat: 12_000_000 } },
    ]);

    // Bob offers (13 M his, 7 M Alice's); Alice accepts (CETs and refund), then funds at dlc.finalize.
    const bobs = await call<{ id: string; offer: string }>(bob.ch, 'dlc.offer', { ...terms(13_000_000), utxos: [await coinbase(b2!)] });
    const mine = await call<{ accept: string }>(alice.ch, 'dlc.accept', { offer: bobs.offer, utxos: [await coinbase(a2!)] });
    const theirs = { kind: 'dlc', contract: bobs.id, counterparty: decodeOffer(Buffer.from(bobs.offer, 'hex')).funding_pubkey };
    contracts.push({ contract: bobs.id, counterparty: theirs.counterparty });
    const bobSigned = await call<{ sign: string }>(bob.ch, 'dlc.sign', { accept: mine.accept });
    await call(alice.ch, 'dlc.finalize', { sign: bobSigned.sign });
    assert.deepEqual(seen.splice(0), [
      { call: 'adaptorSignAll', contract: { ...theirs, purpose: 'cet', spends_sat: 7_000_000 } },
      { call: 'signDigest', contract: { ...theirs, purpose: 'refund', spends_sat: 7_000_000 } },
      { call: 'signPsbt', contract: { ...theirs, purpose: 'funding', spends_sat: 7_000_000 } },
    ]);
  });

  it("the audit entries of the DLC's signatures name the RPC caller, the contract and the counterparty", async () => {
    assert.equal(contracts.length, 2, 'the contracts of the test above');
    const audit = await call<Array<{ event: string; detail: Record<string, unknown> }>>(alice.ch, 'hsm.audit', { from: 1, limit: 1000 });
    const dlc = audit.filter((e) => e.detail.kind === 'dlc');
    // Per contract: CET adaptor signatures, refund and funding (at dlc.sign or dlc.accept/dlc.finalize); Alice's own
    // contract adds two mutual close proposals and its CET.
    const mine = dlc.filter((e) => e.detail.contract === contracts[0]!.contract);
    const theirs = dlc.filter((e) => e.detail.contract === contracts[1]!.contract);
    assert.equal(mine.length, 6, JSON.stringify(mine.map((e) => [e.event, e.detail.purpose, e.detail.caller])));
    assert.equal(theirs.length, 3, JSON.stringify(theirs.map((e) => [e.event, e.detail.purpose, e.detail.caller])));
    assert.equal(mine.length + theirs.length, dlc.length, 'no DLC signature of another contract');
    for (const [entries, c] of [
      [mine, contracts[0]!],
      [theirs, contracts[1]!],
    ] as const)
      for (const e of entries) {
        assert.match(String(e.detail.caller), /^unix#\d+ dlc\./, `${e.event} ${String(e.detail.purpose)}: caller ${String(e.detail.caller)}`);
        assert.equal(e.detail.counterparty, c.counterparty);
      }
    // Each signature names the method that asked for it.
    const callers = (entries: typeof dlc): string[] => entries.map((e) => `${String(e.detail.purpose)} ${String(e.detail.caller).split(' ')[1]}`);
    assert.deepEqual(callers(mine), [
      'cet dlc.sign',
      'refund dlc.sign',
      'funding dlc.sign',
      'close dlc.proposeclose',
      'close dlc.proposeclose',
      'cet dlc.close',
    ]);
    assert.deepEqual(callers(theirs), ['cet dlc.accept', 'refund dlc.accept', 'funding dlc.finalize']);
  });
});
