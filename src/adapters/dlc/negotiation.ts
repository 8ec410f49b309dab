// A contract's negotiation (dlcspecs Protocol.md): dlc.offer makes offer_dlc, dlc.accept checks it and answers
// accept_dlc with this side's CET and refund signatures, dlc.sign checks the accept and answers sign_dlc with the
// offerer's signatures and funding witnesses, dlc.finalize checks sign_dlc and sends the funding transaction.
// Every check of the counterparty's message comes before any signature of ours; each signature names its caller
// and the contract's context for the HSM room's policy and audit.

import { watchFunding } from './chain-notes.js';
import { randomBytes } from 'node:crypto';
import * as bitcoin from 'bitcoinjs-lib';
import { chainHash } from '../../core/bitcoin-network.js';
import { rpcError } from '../../core/errors.js';
import type { ContractSigning } from '../../hsm/api.js';
import {
  decodeAccept,
  decodeSign,
  encodeAccept,
  encodeOffer,
  encodeSign,
  HARD_LIMITS,
  PROTOCOL_VERSION,
  type Accept,
  type Offer,
  type Sign,
} from './messages.js';
import { publicAccept, publicSign, type Messages } from './sealing.js';
import { checkCompactLowS } from './rules.js';
import { buildFunding, contractId } from './transactions.js';
import type { Prepared } from './work.js';
import { get, list, messages, readOffer, save, seal } from './contracts.js';
import { checkFundingWitnesses, checkTheirInputs, fundingInputs, reserve, signFunding, witnessedFunding } from './funding.js';
import { keepingCoinsOnFailure, promiseHandPicked, walletFunding, type WalletFunded } from './wallet-funding.js';
import { checkAcceptShape, checkCounterparty, checkExpected, checkOfferShape, checkOfferTerms, contractTerms, offerOracles } from './terms.js';
import { commitStep, needP2p } from './peer-wire.js';
import {
  acceptTerms,
  compactOf,
  fresh,
  hex,
  rule,
  u64,
  type ContractRecord,
  type DlcContext,
  type ExpectedTerms,
  type OfferParams,
  type Via,
} from './context.js';

/**
 * The contract's keys: its funding key, and a payout and a change key, unless the wallet funds the contract (then
 * its payout and change go to the wallet's addresses, and keys.payout and keys.change say 'wallet').
 */
export async function newKeys(
  ctx: DlcContext,
  id: string,
  wallet?: WalletFunded,
): Promise<{ keys: ContractRecord['keys']; funding: string; payoutSpk: string; changeSpk: string }> {
  // Refused before any key is made when the HSM cannot sign CETs.
  const refusal = ctx.hsm.adaptorRefusal();
  if (refusal) throw rpcError('Unsupported', refusal, { service: 'hsm' });
  if (wallet) {
    const funding = await ctx.hsm.generateKey(`dlc ${id.slice(0, 16)} funding`, null, 'dlc');
    return {
      keys: { funding: funding.id, payout: 'wallet', change: 'wallet' },
      funding: funding.public_key,
      payoutSpk: wallet.payoutSpk,
      changeSpk: wallet.changeSpk,
    };
  }
  const [funding, payout, change] = await Promise.all(
    ['funding', 'payout', 'change'].map((k) => ctx.hsm.generateKey(`dlc ${id.slice(0, 16)} ${k}`, null, 'dlc')),
  );
  const spk = (pub: string): string => hex(bitcoin.payments.p2wpkh({ pubkey: Buffer.from(pub, 'hex'), network: ctx.net }).output!);
  return {
    keys: { funding: funding!.id, payout: payout!.id, change: change!.id },
    funding: funding!.public_key,
    payoutSpk: spk(payout!.public_key),
    changeSpk: spk(change!.public_key),
  };
}

export async function offer(ctx: DlcContext, p: OfferParams, caller: string): Promise<{ id: string; offer: string }> {
  const oracles = offerOracles(ctx, p);
  const announcement = oracles.announcement;
  if (p.offer_collateral_sat > p.total_collateral_sat) throw rpcError('InvalidParams', 'offer_collateral_sat is more than total_collateral_sat');
  const contract = contractTerms(p, announcement);
  const cet_locktime = p.cet_locktime ?? announcement.event.maturity_epoch;
  const refund_locktime = p.refund_locktime ?? cet_locktime + 7 * 24 * 3600;
  if (refund_locktime <= cet_locktime) throw rpcError('InvalidParams', `refund_locktime ${refund_locktime} must be after cet_locktime ${cet_locktime}`);
  const id = hex(randomBytes(32));
  // An offer to a peer: refused before anything is made when the peer network is off, or the peer is this node.
  if (p.peer !== undefined && needP2p(ctx).nodeId() === p.peer) throw rpcError('InvalidParams', `peer ${p.peer} is this node's own key`);
  // Refused before anything else when the HSM cannot sign CETs (as newKeys refuses).
  const refusal = ctx.hsm.adaptorRefusal();
  if (refusal) throw rpcError('Unsupported', refusal, { service: 'hsm' });
  return ctx.locks.run('utxos', async () => {
    const wallet = p.utxos ? undefined : await walletFunding(ctx, id, BigInt(p.offer_collateral_sat), BigInt(p.fee_rate_sat_vb));
    return keepingCoinsOnFailure(ctx, id, () => offerFunded(ctx, p, { id, oracles, contract, cet_locktime, refund_locktime }, wallet, caller));
  });
}

/** dlc.offer once its coins are known (given, or promised by the wallet). */
async function offerFunded(
  ctx: DlcContext,
  p: OfferParams,
  o: { id: string; oracles: ReturnType<typeof offerOracles>; contract: ReturnType<typeof contractTerms>; cet_locktime: number; refund_locktime: number },
  wallet: WalletFunded | undefined,
  caller: string,
): Promise<{ id: string; offer: string }> {
  const { id, oracles, contract, cet_locktime, refund_locktime } = o;
  const utxos = wallet?.utxos ?? p.utxos!;
  const reservations = await reserve(ctx, id, utxos);
  const funding_inputs = wallet?.inputs ?? (await fundingInputs(ctx, utxos));
  // Hand-picked coins, once known unspent: promised by the wallet too, before anything of the contract is made.
  if (!wallet) await promiseHandPicked(ctx, id, utxos);
  const terms = {
    protocol_version: PROTOCOL_VERSION,
    contract_flags: 0,
    chain_hash: chainHash(ctx.network),
    temporary_contract_id: id,
    contract_info: {
      total_collateral: BigInt(p.total_collateral_sat),
      ...contract,
      ...oracles,
    },
    payout_serial_id: u64(),
    offer_collateral: BigInt(p.offer_collateral_sat),
    funding_inputs,
    change_serial_id: u64(),
    fund_output_serial_id: u64(),
    fee_rate_per_vb: BigInt(p.fee_rate_sat_vb),
    cet_locktime,
    refund_locktime,
  };
  // Read as the counterparty will read it (the limits, the payout curve's CETs, in a worker) and held to the same
  // terms, before any key is made: the keys' fields are not read yet.
  const draft: Offer = { ...terms, funding_pubkey: `02${'00'.repeat(32)}`, payout_spk: '', change_spk: '' };
  const read = await readOffer(ctx, hex(encodeOffer(draft)), ctx.bounds.limits, `the offer ${id.slice(0, 16)}`);
  await checkOfferTerms(ctx, read);
  const k = await newKeys(ctx, id, wallet);
  const offerBytes = encodeOffer({ ...terms, contract_info: read.contract_info, funding_pubkey: k.funding, payout_spk: k.payoutSpk, change_spk: k.changeSpk });
  const offerHex = hex(offerBytes);
  const rec = fresh(id, 'offerer', 'offered', offerHex, k.keys, wallet ? { wallet: { inputs: wallet.origins } } : {});
  // With peer=, the offer is queued to the peer in the batch that writes the record (peer-wire.ts).
  await commitStep(ctx, rec, null, reservations, p.peer === undefined ? undefined : { peer: p.peer }, offerBytes);
  ctx.log.info({ id, caller, wallet_funded: wallet !== undefined, ...(p.peer ? { peer: p.peer } : {}) }, 'DLC offered');
  return { id, offer: offerHex };
}

export async function accept(
  ctx: DlcContext,
  offerHex: string,
  utxos: OfferParams['utxos'] | undefined,
  caller: string,
  expect?: ExpectedTerms,
  via?: Via,
): Promise<{ id: string; accept: string }> {
  if (via) needP2p(ctx);
  // Read under the limits in a worker: nothing heavy on this thread, nothing of ours made before the checks.
  const offer = await readOffer(ctx, offerHex, ctx.bounds.limits, 'reading an offer');
  if (offer.chain_hash !== chainHash(ctx.network))
    throw rpcError('InvalidParams', `the offer is for another chain (chain_hash ${offer.chain_hash}); this anyad is on ${ctx.network}`);
  checkOfferShape(offer);
  await checkOfferTerms(ctx, offer);
  checkExpected(offer, expect);
  const id = offer.temporary_contract_id;
  return ctx.locks.run([id, 'utxos'], async () => {
    if (await ctx.db.get(`c:${id}`)) throw rpcError('Conflict', `contract ${id} is known already`);
    const total = offer.contract_info.total_collateral;
    const wallet = utxos ? undefined : await walletFunding(ctx, id, total - offer.offer_collateral, offer.fee_rate_per_vb);
    return keepingCoinsOnFailure(ctx, id, () => acceptFunded(ctx, { offer, offerHex, utxos, wallet, total }, caller, via));
  });
}

/** dlc.accept once its coins are known (given, or promised by the wallet). */
async function acceptFunded(
  ctx: DlcContext,
  a: { offer: Offer; offerHex: string; utxos: OfferParams['utxos']; wallet: WalletFunded | undefined; total: bigint },
  caller: string,
  via?: Via,
): Promise<{ id: string; accept: string }> {
  const { offer, offerHex, wallet, total } = a;
  const id = offer.temporary_contract_id;
  const utxos = wallet?.utxos ?? a.utxos!;
  const reservations = await reserve(ctx, id, utxos);
  const ownInputs = wallet?.inputs ?? (await fundingInputs(ctx, utxos));
  if (!wallet) await promiseHandPicked(ctx, id, utxos);
  await checkTheirInputs(ctx, offer.funding_inputs, 'offerer', ownInputs);
  const k = await newKeys(ctx, id, wallet);
  const terms: Accept = {
    protocol_version: PROTOCOL_VERSION,
    temporary_contract_id: id,
    accept_collateral: total - offer.offer_collateral,
    funding_pubkey: k.funding,
    payout_spk: k.payoutSpk,
    payout_serial_id: u64(),
    funding_inputs: ownInputs,
    change_spk: k.changeSpk,
    change_serial_id: u64(),
    cet_adaptor_signatures: [],
    refund_signature: '',
  };
  const f = rule(() => buildFunding(offer, terms));
  const prepared = await ctx.workers.prepare(offer, acceptTerms(terms), undefined, `accepting ${id.slice(0, 16)}`);
  const signing = { kind: 'dlc' as const, contract: id, counterparty: offer.funding_pubkey };
  const sigs = await cetSignatures(ctx, prepared, k.keys.funding, caller, signing, terms.accept_collateral);
  terms.cet_adaptor_signatures = sigs.adaptor;
  terms.refund_signature = sigs.refund;
  const acceptBytes = encodeAccept(terms);
  const acceptHex = hex(acceptBytes);
  const rec = fresh(id, 'accepter', 'accepted', offerHex.toLowerCase(), k.keys, {
    accept: publicAccept(acceptHex),
    sealed: await seal(ctx, id, { accept: acceptHex, sign: null }),
    contract_id: contractId(f, id),
    funding_txid: f.funding.getId(),
    ...(wallet ? { wallet: { inputs: wallet.origins } } : {}),
  });
  // Taken from a peer (dlc.accept id=): the accept goes back to it in the batch that writes the record. An offer a
  // peer sent and that is accepted from its hex instead leaves no received copy behind (r:<id>) either.
  await commitStep(ctx, rec, null, [...reservations, { type: 'del', sublevel: ctx.db, key: `r:${id}` }], via, acceptBytes);
  ctx.log.info({ id, caller, wallet_funded: wallet !== undefined, ...(via ? { peer: via.peer } : {}) }, 'DLC accepted');
  return { id, accept: acceptHex };
}

/**
 * This party's adaptor signature on every CET (encrypted under its outcome's point) and its refund signature, each
 * with the contract's context for the HSM's policy: what this side can lose by them is its own collateral.
 */
export async function cetSignatures(
  ctx: DlcContext,
  prepared: Prepared,
  fundingKey: string,
  caller: string,
  signing: Omit<ContractSigning, 'purpose' | 'spends_sat'>,
  ownCollateral: bigint,
): Promise<{ adaptor: string[]; refund: string }> {
  const items = prepared.items.map(({ point, digest }) => ({ point: Buffer.from(point), digest: Buffer.from(digest) }));
  const spends_sat = Number(ownCollateral);
  const adaptor = (await ctx.hsm.adaptorSignAll(fundingKey, items, caller, { ...signing, purpose: 'cet', spends_sat })).map(hex);
  const refund = compactOf(await ctx.hsm.signDigest(fundingKey, Buffer.from(prepared.refundDigest), caller, { ...signing, purpose: 'refund', spends_sat }));
  return { adaptor, refund };
}

/** At the offerer: checks the accept, signs CETs, refund and funding inputs; answers sign_dlc. */
export async function signAccept(ctx: DlcContext, acceptHex: string, caller: string, via?: Via): Promise<{ id: string; contract_id: string; sign: string }> {
  const accept = rule(() => decodeAccept(Buffer.from(acceptHex, 'hex')));
  const id = accept.temporary_contract_id;
  return ctx.locks.run(id, async () => {
    const rec = await get(ctx, id);
    if (rec.role !== 'offerer' || rec.state !== 'offered')
      throw rpcError('Conflict', `contract ${id} is ${rec.state} (${rec.role}); an accept fits an offered contract of ours`);
    const offer = await readOffer(ctx, rec.offer, HARD_LIMITS, `our offer ${id.slice(0, 16)}`);
    checkAcceptShape(offer, accept);
    rule(() => checkCompactLowS(accept.refund_signature, "the accepter's refund signature"));
    await checkTheirInputs(ctx, accept.funding_inputs, 'accepter', offer.funding_inputs);
    const f = rule(() => buildFunding(offer, accept));
    // The CETs, their sighashes and adaptor points, and the accepter's adaptor signatures checked: in a worker.
    const prepared = await ctx.workers.prepare(
      offer,
      acceptTerms(accept),
      { pubkey: accept.funding_pubkey, adaptor: accept.cet_adaptor_signatures },
      `checking the accept of ${id.slice(0, 16)}`,
    );
    checkCounterparty(offer, prepared, accept.funding_pubkey, accept.refund_signature, 'accepter');
    const signing = { kind: 'dlc' as const, contract: id, counterparty: accept.funding_pubkey };
    const sigs = await cetSignatures(ctx, prepared, rec.keys.funding, caller, signing, offer.offer_collateral);
    const funding = await signFunding(
      ctx,
      f,
      [...offer.funding_inputs, ...accept.funding_inputs],
      offer.funding_inputs,
      caller,
      { ...signing, purpose: 'funding', spends_sat: Number(offer.offer_collateral) },
      rec.wallet?.inputs,
    );
    const cid = contractId(f, id);
    const signBytes = encodeSign({
      protocol_version: PROTOCOL_VERSION,
      contract_id: cid,
      cet_adaptor_signatures: sigs.adaptor,
      refund_signature: sigs.refund,
      funding_signatures: funding.stacks,
    });
    const signHex = hex(signBytes);
    const full: Messages = { accept: acceptHex.toLowerCase(), sign: signHex };
    // Told by the bitcoin room when the accepter's funding is seen, confirmed, and its output spent.
    await watchFunding(ctx, id, f.funding, f.fundOutputIndex);
    // From the peer's accept_dlc: the sign goes back to it in the batch that writes the record.
    await commitStep(
      ctx,
      {
        ...rec,
        state: 'signed',
        accept: publicAccept(full.accept!),
        sign: publicSign(signHex),
        sealed: await seal(ctx, id, full),
        contract_id: cid,
        funding_txid: f.funding.getId(),
      },
      rec.state,
      [],
      via,
      signBytes,
    );
    ctx.log.info({ id, contract_id: cid, caller }, 'DLC signed');
    return { id, contract_id: cid, sign: signHex };
  });
}

/** At the accepter: checks sign_dlc, signs its funding inputs, broadcasts the funding transaction. */
export async function finalize(ctx: DlcContext, signHex: string, caller: string, via?: Via): Promise<{ id: string; contract_id: string; txid: string }> {
  const sign: Sign = rule(() => decodeSign(Buffer.from(signHex, 'hex')));
  const rec = (await list(ctx)).find((r) => r.contract_id === sign.contract_id && r.role === 'accepter');
  if (!rec) throw rpcError('NotFound', `no accepted contract with contract_id ${sign.contract_id}`);
  return ctx.locks.run(rec.id, async () => {
    const cur = await get(ctx, rec.id);
    if (cur.state !== 'accepted') throw rpcError('Conflict', `contract ${cur.id} is ${cur.state}; sign_dlc fits an accepted one`);
    // Our accept as sent, resealed below with the sign: opened before anything is signed (Locked refuses here).
    const ours = await messages(ctx, cur);
    const offer = await readOffer(ctx, cur.offer, HARD_LIMITS, `the offer of ${cur.id.slice(0, 16)}`);
    const accept = decodeAccept(Buffer.from(cur.accept!, 'hex'));
    const f = buildFunding(offer, accept);
    const all = [...offer.funding_inputs, ...accept.funding_inputs];
    rule(() => checkCompactLowS(sign.refund_signature, "the offerer's refund signature"));
    checkFundingWitnesses(f, all, offer.funding_inputs, sign.funding_signatures);
    const prepared = await ctx.workers.prepare(
      offer,
      acceptTerms(accept),
      { pubkey: offer.funding_pubkey, adaptor: sign.cet_adaptor_signatures },
      `checking the sign of ${cur.id.slice(0, 16)}`,
    );
    checkCounterparty(offer, prepared, offer.funding_pubkey, sign.refund_signature, 'offerer');
    const { psbt } = await signFunding(
      ctx,
      f,
      all,
      accept.funding_inputs,
      caller,
      { kind: 'dlc', contract: cur.id, counterparty: offer.funding_pubkey, purpose: 'funding', spends_sat: Number(accept.accept_collateral) },
      cur.wallet?.inputs,
    );
    // The unsigned funding transaction with every witness: ours from the HSM's PSBT, the offerer's from sign_dlc.
    const tx = witnessedFunding(f, psbt, offer.funding_inputs, sign.funding_signatures);
    // Sealed before the funding is sent: once it is, the offerer's CET signatures are what lets us claim, so the
    // record that keeps them must not be left unwritten by a keystore locked in between.
    const sealed = await seal(ctx, cur.id, { accept: ours.accept, sign: signHex.toLowerCase() });
    await watchFunding(ctx, cur.id, tx, f.fundOutputIndex);
    const txid = await ctx.chain.broadcast(tx.toHex(), 'the funding');
    // From the peer's sign_dlc: its inbox entry goes in this batch (nothing to answer).
    await save(ctx, { ...cur, state: 'broadcast', sign: publicSign(signHex), sealed, funding_txid: txid }, cur.state, via?.extra ?? []);
    ctx.log.info({ id: cur.id, txid, caller }, 'DLC funding broadcast');
    return { id: cur.id, contract_id: cur.contract_id!, txid };
  });
}
