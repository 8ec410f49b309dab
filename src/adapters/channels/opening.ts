// Opening and funding a channel (BOLT 2's open_channel … funding_signed, as hex messages apps carry): the opener's
// offer, the accepter's answer, the funding transaction made from the opener's coins and signed only after both
// first commitments are, and sc.cancel of a channel nothing was funded for. Every counterparty value is checked
// before anything is signed on it.

import { randomBytes } from 'node:crypto';
import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../../core/errors.js';
import { fundingSeen, tipHeight, watchChannel } from './chain-queries.js';
import { authentic, checkOurs, contract, done, get, list, message, ourPoint, read, save, signTheirs, whenDurable, type ChannelContext } from './context.js';
import { field, MessageError, type Envelope } from './messages.js';
import { asRpc, hex, newRecord, stored, toState, wrap, ZERO_HASH, type ChannelRecord, type ChannelStateName } from './record.js';
import { checkFundingTx, checkOwnDelay, checkTheirDelay } from './rules.js';
import { cancelStep, expectStep } from './state.js';
import { addOrigins, promiseHandPicked, releaseWalletCoins, walletFunding } from './wallet-funding.js';
import { ourPayout, readPayout } from './payouts.js';
import { COMMITMENT_VBYTES, DUST_LIMIT, MIN_FEE_RATE, fundingScript, p2wsh, type ChannelState, type PartyKeys } from './transactions.js';

export interface OpenParams {
  capacity_sat: number;
  push_sat: number;
  to_self_delay: number;
  fee_rate_sat_vb: number;
  app_hash?: string;
  /** The opener's coins; when omitted, the wallet room chooses them (wallet-funding.ts). */
  utxos?: Array<{ txid: string; vout: number }>;
  /** The counterparty's node key when the channel runs over the peer network (peering.ts). */
  peer?: string;
}

/** The unsigned transaction a PSBT describes (its txid is final: every input is segwit). */
function unsignedTx(psbt: bitcoin.Psbt): bitcoin.Transaction {
  const tx = new bitcoin.Transaction();
  tx.version = psbt.version;
  tx.locktime = psbt.locktime;
  for (const i of psbt.txInputs) tx.addInput(Buffer.from(i.hash), i.index, i.sequence);
  for (const o of psbt.txOutputs) tx.addOutput(Buffer.from(o.script), o.value);
  return tx;
}

/** A party's four keys as an open or accept message names them: each a valid compressed point (BOLT 2). */
function partyKeys(body: Record<string, unknown>): PartyKeys {
  const k = (body.keys ?? {}) as Record<string, unknown>;
  if (k === null || typeof k !== 'object' || Array.isArray(k)) throw new MessageError('keys must be an object');
  return {
    funding: field.point(k, 'funding'),
    revocation_basepoint: field.point(k, 'revocation_basepoint'),
    payment_basepoint: field.point(k, 'payment_basepoint'),
    delayed_payment_basepoint: field.point(k, 'delayed_payment_basepoint'),
  };
}

async function newKeys(room: ChannelContext, id: string): Promise<{ keys: ChannelRecord['keys']; ours: PartyKeys }> {
  const refusal = room.hsm.channelRefusal();
  if (refusal) throw rpcError('Unsupported', refusal, { service: 'hsm' });
  const names = ['funding', 'revocation', 'payment', 'delayed'] as const;
  const made = await Promise.all(names.map((k) => room.hsm.generateKey(`sc ${id.slice(0, 16)} ${k}`, null, 'channel')));
  return {
    keys: { funding: made[0]!.id, revocation: made[1]!.id, payment: made[2]!.id, delayed: made[3]!.id },
    ours: {
      funding: made[0]!.public_key,
      revocation_basepoint: made[1]!.public_key,
      payment_basepoint: made[2]!.public_key,
      delayed_payment_basepoint: made[3]!.public_key,
    },
  };
}

/** Coins funding a channel that is not open yet are refused to another one (under the 'utxos' lock). */
async function checkCoins(room: ChannelContext, utxos: ChannelRecord['utxos']): Promise<void> {
  const taken = new Map<string, string>();
  for (const r of await list(room))
    if (r.state === 'opening' || r.state === 'accepted' || r.state === 'funding') for (const u of r.utxos) taken.set(`${u.txid}:${u.vout}`, r.id);
  for (const [i, u] of utxos.entries()) {
    const holder = taken.get(`${u.txid}:${u.vout}`);
    if (holder) throw rpcError('Conflict', `utxos[${i}] ${u.txid}:${u.vout} funds channel ${holder} already`, { channel: holder });
    if (!(await room.chain.utxo(u.txid, u.vout))) throw rpcError('NotFound', `utxos[${i}] ${u.txid}:${u.vout} is spent or does not exist`);
  }
}

/** Our first points (states 0 and 1), as the open and accept messages carry them. */
async function firstPoints(room: ChannelContext, rec: ChannelRecord, caller: string): Promise<{ first_point: string; next_point: string }> {
  return { first_point: hex(await ourPoint(room, rec, 0, caller)), next_point: hex(await ourPoint(room, rec, 1, caller)) };
}

export async function openChannel(room: ChannelContext, p: OpenParams, caller: string): Promise<{ id: string; message: string }> {
  // Checked here too (not only by the sc.open schema): l2.submit and other callers reach this function.
  if (!Number.isInteger(p.fee_rate_sat_vb) || p.fee_rate_sat_vb < MIN_FEE_RATE)
    throw rpcError('InvalidParams', `fee_rate_sat_vb ${p.fee_rate_sat_vb} is under ${MIN_FEE_RATE}: the commitments could never be broadcast`);
  const capacity = BigInt(p.capacity_sat);
  const fee = BigInt(p.fee_rate_sat_vb) * COMMITMENT_VBYTES;
  const push = BigInt(p.push_sat);
  const first: ChannelState = { number: 0, to_opener_sat: capacity - fee - push, to_accepter_sat: push, app_hash: (p.app_hash ?? ZERO_HASH).toLowerCase() };
  if (first.to_opener_sat < DUST_LIMIT)
    throw rpcError('InvalidParams', `capacity_sat ${capacity} leaves the opener under ${DUST_LIMIT} sat after the fee (${fee}) and the push`);
  if (push > 0n && push < DUST_LIMIT) throw rpcError('InvalidParams', `push_sat ${push} is dust (under ${DUST_LIMIT} sat)`);
  // BOLT 2: the opener's to_self_delay is what it requires of the accepter (the accepter's commitment waits it).
  checkOwnDelay(p.to_self_delay, room.policy.minDelay);
  const id = randomBytes(32).toString('hex');
  return room.locks.run([id, 'utxos'], async () => {
    const funded = p.utxos ? undefined : await walletFunding(room, id, capacity, p.fee_rate_sat_vb);
    try {
      return await offerChannel(room, p, { id, first, push }, funded, caller);
    } catch (err) {
      await releaseWalletCoins(room, id); // chosen or hand-picked: promised to the channel, which is not saved
      throw err;
    }
  });
}

/** sc.open once its coins are known (given, or promised by the wallet). */
async function offerChannel(
  room: ChannelContext,
  p: OpenParams,
  o: { id: string; first: ChannelState; push: bigint },
  funded: Awaited<ReturnType<typeof walletFunding>> | undefined,
  caller: string,
): Promise<{ id: string; message: string }> {
  const { id, first, push } = o;
  const capacity = BigInt(p.capacity_sat);
  const fee = BigInt(p.fee_rate_sat_vb) * COMMITMENT_VBYTES;
  const utxos = funded?.utxos ?? p.utxos!;
  await checkCoins(room, utxos);
  // Hand-picked coins, once known unspent: promised by the wallet too, before any key of the channel is made.
  if (!funded) await promiseHandPicked(room, id, utxos);
  const { keys, ours } = await newKeys(room, id);
  const rec = newRecord({
    id,
    role: 'opener',
    state: 'opening',
    capacity_sat: capacity.toString(),
    fee_sat: fee.toString(),
    fee_rate_sat_vb: p.fee_rate_sat_vb,
    to_self_delay: 0,
    their_to_self_delay: p.to_self_delay,
    keys,
    ours,
    theirs: null,
    utxos,
    current: stored(first),
    their_points: {},
  });
  if (funded) rec.wallet = funded.wallet;
  if (p.peer) rec.peer = p.peer;
  // Our payout script (a wallet address, taken once), named in the open: the close pays it once the accept names one.
  Object.assign(rec, await ourPayout(room, rec));
  const body = {
    payout_script: rec.our_payout,
    capacity_sat: rec.capacity_sat,
    push_sat: push.toString(),
    fee_rate_sat_vb: p.fee_rate_sat_vb,
    to_self_delay: p.to_self_delay,
    app_hash: first.app_hash,
    keys: ours,
    ...(await firstPoints(room, rec, caller)),
  };
  const msg = await message(room, rec, 'open', body, caller);
  await save(room, rec, null);
  await done(room, msg);
  room.log.info({ id, capacity_sat: Number(capacity), wallet_funded: funded !== undefined }, 'channel offered');
  return { id, message: msg };
}

/**
 * Accepts an open message. `ownDelay` is the to_self_delay this side requires of the opener (BOLT 2
 * accept_channel), sc.toselfdelay unless given; the opener's to_self_delay is what this side will wait.
 */
export async function accept(
  room: ChannelContext,
  hexMsg: string,
  ownDelay: number | undefined,
  caller: string,
  peer?: string,
): Promise<{ id: string; message: string }> {
  const { e, sig } = read(room, hexMsg);
  const { theirs, capacity, push, feeRate, delay, appHash, firstPoint, nextPoint, theirPayout } = checkOpen(room, e, sig);
  const fee = BigInt(feeRate) * COMMITMENT_VBYTES;
  const mine = ownDelay ?? room.policy.acceptDelay;
  checkOwnDelay(mine, room.policy.minDelay);
  return room.locks.run(e.channel, async () => {
    if (await room.db.get(`c:${e.channel}`)) throw rpcError('Conflict', `channel ${e.channel} is known already (a replayed open)`);
    const { keys, ours } = await newKeys(room, e.channel);
    const rec = newRecord({
      id: e.channel,
      role: 'accepter',
      state: 'accepted',
      capacity_sat: capacity.toString(),
      fee_sat: fee.toString(),
      fee_rate_sat_vb: feeRate,
      to_self_delay: delay,
      their_to_self_delay: mine,
      keys,
      ours,
      theirs,
      utxos: [],
      current: stored({ number: 0, to_opener_sat: capacity - fee - push, to_accepter_sat: push, app_hash: appHash }),
      their_points: { 0: firstPoint, 1: nextPoint },
    });
    if (peer) rec.peer = peer;
    // Our payout script (a wallet address, taken once) is named back only to an open that named one: an open without
    // it is an earlier anyad's, which closes to both payment basepoints (our sweeps and penalties still pay the wallet).
    const payout = await ourPayout(room, rec);
    if (payout.claim_script) rec.claim_script = payout.claim_script;
    if (theirPayout !== undefined) Object.assign(rec, { our_payout: payout.our_payout, their_payout: theirPayout });
    const body = { keys: ours, to_self_delay: mine, ...(rec.our_payout ? { payout_script: rec.our_payout } : {}), ...(await firstPoints(room, rec, caller)) };
    const msg = await message(room, rec, 'accept', body, caller);
    await save(room, rec, null);
    await done(room, msg);
    return { id: rec.id, message: msg };
  });
}

/** The terms of an open message, once every one is checked and the message is known signed by the key it names. */
export interface OpenTerms {
  theirs: PartyKeys;
  capacity: bigint;
  push: bigint;
  feeRate: number;
  /** The to_self_delay the opener requires of this side. */
  delay: number;
  appHash: string;
  firstPoint: string;
  nextPoint: string;
  theirPayout: string | undefined;
}

/**
 * Checks an open message as sc.accept does, before anything is made or signed on it (also what peering.ts does with
 * an open a peer sends: it is kept as an offer only once these pass).
 */
export function checkOpen(room: ChannelContext, e: Envelope, sig: string): OpenTerms {
  if (e.type !== 'open') throw rpcError('InvalidParams', `sc.accept takes an open message, not ${e.type} (sc.receive takes the others)`);
  let theirs: PartyKeys, capacity: bigint, push: bigint, feeRate: number, delay: number, appHash: string, firstPoint: string, nextPoint: string;
  let theirPayout: string | undefined;
  try {
    theirs = partyKeys(e.body);
    theirPayout = readPayout(e.body);
    capacity = field.sat(e.body, 'capacity_sat');
    push = field.sat(e.body, 'push_sat');
    // Below MIN_FEE_RATE the commitments could never be broadcast (transactions.ts): a force close would be impossible.
    feeRate = field.int(e.body, 'fee_rate_sat_vb', MIN_FEE_RATE, 10_000);
    delay = field.int(e.body, 'to_self_delay', 1, 65_535);
    appHash = field.hex(e.body, 'app_hash', 32);
    firstPoint = field.point(e.body, 'first_point');
    nextPoint = field.point(e.body, 'next_point');
  } catch (err) {
    throw asRpc(err);
  }
  authentic(e, sig, theirs.funding);
  const fee = BigInt(feeRate) * COMMITMENT_VBYTES;
  // BOLT 2 open_channel: push_msat over the funding, a channel too small for its fee, dust balances fail it.
  if (capacity - fee - push < DUST_LIMIT || (push > 0n && push < DUST_LIMIT))
    throw rpcError('InvalidParams', 'the open message leaves a balance under the dust limit');
  checkTheirDelay(delay, room.policy.maxDelay);
  return { theirs, capacity, push, feeRate, delay, appHash, firstPoint, nextPoint, theirPayout };
}

/** The opener takes the accept: makes the funding transaction and signs the accepter's first commitment. */
export async function onAccept(room: ChannelContext, rec: ChannelRecord, e: Envelope, caller: string): Promise<{ rec: ChannelRecord; reply: string }> {
  expectStep(rec, 'opener', 'opening', 'accept');
  const theirs = wrap(() => partyKeys(e.body));
  // Their payout script: the close pays it (and ours) only when both messages named one (BOLT 2 upfront_shutdown_script).
  const theirPayout = wrap(() => readPayout(e.body));
  const first = wrap(() => field.point(e.body, 'first_point'));
  const next = wrap(() => field.point(e.body, 'next_point'));
  // BOLT 2 accept_channel: the accepter's to_self_delay is what this side waits; refused when unreasonably large.
  const delay = wrap(() => field.int(e.body, 'to_self_delay', 1, 65_535));
  checkTheirDelay(delay, room.policy.maxDelay);
  if (theirs.funding === rec.ours.funding) throw rpcError('InvalidParams', "the accepter's funding key is ours");
  // The funding transaction: our coins to the 2-of-2 output, change to a keystore key; signed only later.
  const capacity = BigInt(rec.capacity_sat);
  const fundingAddress = bitcoin.address.fromOutputScript(p2wsh(fundingScript(rec.ours.funding, theirs.funding)), room.net);
  const inputs = await Promise.all(rec.utxos.map((u) => room.chain.utxo(u.txid, u.vout)));
  let total = 0n;
  for (const [i, c] of inputs.entries()) {
    if (!c) throw rpcError('NotFound', `the funding coin ${rec.utxos[i]!.txid}:${rec.utxos[i]!.vout} is spent now`);
    total += BigInt(c.value_sat);
  }
  const fundingFee = BigInt(rec.fee_rate_sat_vb) * BigInt(11 + 43 + 31 + 68 * rec.utxos.length);
  const change = total - capacity - fundingFee;
  if (change < 0n) throw rpcError('InvalidParams', `the funding coins hold ${total} sat: under the capacity ${capacity} and the funding fee ${fundingFee}`);
  const outputs = [{ address: fundingAddress, amount_sat: Number(capacity) }];
  if (change >= DUST_LIMIT) {
    // A wallet-funded channel's change goes back to the wallet; hand-picked coins' to a key of the channel's own.
    const address = rec.wallet
      ? rec.wallet.change_address
      : bitcoin.payments.p2wpkh({
          pubkey: Buffer.from((await room.hsm.generateKey(`sc ${rec.id.slice(0, 16)} change`, null, 'channel')).public_key, 'hex'),
          network: room.net,
        }).address!;
    outputs.push({ address, amount_sat: Number(change) });
  }
  const made = await room.chain.createPsbt({ inputs: rec.utxos, outputs, locktime: 0, replaceable: false });
  const psbt = bitcoin.Psbt.fromBase64(made.psbt, { network: room.net });
  // The wallet's coins carry their key origin, so the HSM signs them with the wallet's keys.
  if (rec.wallet) addOrigins(psbt, rec.wallet.inputs);
  const tx = unsignedTx(psbt);
  // The accepter checks this; so do we, before signing on it.
  checkFundingTx(tx.toHex(), tx.getId(), 0, capacity, p2wsh(fundingScript(rec.ours.funding, theirs.funding)));
  const next_ = {
    ...rec,
    to_self_delay: delay,
    theirs,
    funding_psbt: psbt.toBase64(),
    funding_txid: tx.getId(),
    funding_vout: 0,
    their_points: { 0: first, 1: next },
    scan_height: tipHeight(room.chain),
    ...(theirPayout !== undefined && rec.our_payout ? { their_payout: theirPayout } : {}),
  };
  const sigTheirs = await signTheirs(room, next_, toState(rec.current), 0n, caller);
  await watchChannel(room.notes, next_);
  const saved = await save(room, { ...next_, state: 'funding', their_signed: 0 }, rec.state);
  const body = { funding_txid: saved.funding_txid, funding_vout: 0, funding_tx: tx.toHex(), sig: sigTheirs };
  return { rec: saved, reply: await message(room, saved, 'funding_created', body, caller) };
}

/** The accepter takes funding_created: checks the funding output and the opener's signature, signs back. */
export async function onFundingCreated(room: ChannelContext, rec: ChannelRecord, e: Envelope, caller: string): Promise<{ rec: ChannelRecord; reply: string }> {
  expectStep(rec, 'accepter', 'accepted', 'funding_created');
  const txid = wrap(() => field.hex(e.body, 'funding_txid', 32));
  const vout = wrap(() => field.int(e.body, 'funding_vout', 0, 10_000));
  const fundingTx = wrap(() => field.bytes(e.body, 'funding_tx', 100_000));
  const sig = wrap(() => field.sig(e.body, 'sig'));
  // BOLT 2 funding_created: the outpoint must be the channel's funding output — the capacity, to the 2-of-2 of
  // both funding keys — before anything is signed on it (checked again on chain when it confirms). An opener
  // naming any other coin (someone else's) is refused here.
  checkFundingTx(fundingTx, txid, vout, BigInt(rec.capacity_sat), p2wsh(fundingScript(rec.ours.funding, rec.theirs!.funding)));
  const withFunding = { ...rec, funding_txid: txid, funding_vout: vout, scan_height: tipHeight(room.chain) };
  const state = toState(rec.current);
  await checkOurs(room, withFunding, state, sig, caller);
  const ours = await signTheirs(room, withFunding, state, 0n, caller);
  await watchChannel(room.notes, withFunding);
  // Our commitment 0, signed by them, is durable before our signature on theirs leaves.
  const saved = await save(room, { ...withFunding, current_sig: sig, their_signed: 0, state: 'funding' }, rec.state);
  return { rec: saved, reply: await message(room, saved, 'funding_signed', { sig: ours }, caller) };
}

/** The opener takes funding_signed: from here it can always close, so the funding is signed and broadcast. */
export async function onFundingSigned(room: ChannelContext, rec: ChannelRecord, e: Envelope, caller: string): Promise<{ rec: ChannelRecord; txid: string }> {
  expectStep(rec, 'opener', 'funding', 'funding_signed');
  if (rec.current_sig) throw rpcError('Conflict', `channel ${rec.id}'s funding was signed already (a replayed funding_signed)`);
  const sig = wrap(() => field.sig(e.body, 'sig'));
  await checkOurs(room, rec, toState(rec.current), sig, caller);
  // Durable before the funding is signed and sent: from here we can always close.
  let saved = await save(room, { ...rec, current_sig: sig }, rec.state);
  const signed = await room.hsm.signPsbt(rec.funding_psbt!, caller, contract(rec, 'funding', BigInt(rec.capacity_sat)));
  const fin = await room.chain.finalizePsbt(signed.psbt);
  if (!fin.complete || !fin.hex) throw rpcError('PolicyDenied', `the HSM did not sign every funding input (incomplete: ${fin.incomplete_inputs.join(', ')})`);
  if (fin.txid !== rec.funding_txid) throw rpcError('InternalError', 'the signed funding transaction is not the one the commitments spend');
  // Kept before it is sent: a broadcast that fails (or times out while the node took it) is sent again at every
  // block, and sc.cancel looks at the chain rather than at what this call believed.
  saved = await save(room, { ...saved, funding_psbt: null, funding_hex: fin.hex }, saved.state);
  await whenDurable(room, 'the funding broadcast', async () => {
    await room.chain.broadcast(fin.hex!, 'the funding');
    room.log.info({ id: rec.id, txid: fin.txid }, 'channel funding broadcast');
  });
  return { rec: saved, txid: fin.txid! };
}

/**
 * Drops a channel nothing was funded for (its coins free again). The opener's channel in 'funding' is judged by
 * the chain, not by what the funding call believed (a broadcast that timed out may have reached the node): refused
 * while its funding transaction is in the mempool or on chain, or while one of our funding coins is spent (by the
 * funding perhaps, which a node without txindex cannot tell) — a channel funded but cancelled would no longer be
 * followed, and our funds would depend on the counterparty closing it.
 */
export async function cancel(room: ChannelContext, id: string): Promise<{ id: string; state: ChannelStateName }> {
  return room.locks.run([id, 'utxos'], async () => {
    const rec = await get(room, id);
    if (cancelStep(rec) === 'funding') {
      const seen = await fundingSeen(room.chain, rec);
      if (seen)
        throw rpcError('Conflict', `channel ${id}: its funding transaction ${rec.funding_txid} is ${seen}; it cannot be cancelled (it opens once confirmed)`, {
          txid: rec.funding_txid,
        });
      for (const u of rec.utxos)
        if (!(await room.chain.utxo(u.txid, u.vout)))
          throw rpcError(
            'Conflict',
            `channel ${id}: our funding coin ${u.txid}:${u.vout} is spent (by the funding transaction, or elsewhere); it cannot be cancelled`,
            {
              txid: u.txid,
              vout: u.vout,
            },
          );
    }
    const saved = await save(room, { ...rec, state: 'cancelled', utxos: [] }, rec.state);
    // The coins the wallet promised to it (chosen or hand-picked) are free again (after the record says cancelled).
    await releaseWalletCoins(room, id);
    return { id, state: saved.state };
  });
}
