// What other rooms may use of the p2p room (declared in their `requires`): messages to and from connected peers by
// node key, and word of peers coming and going. Made for an outbox to sit on: send() resolves once the message is
// handed to the encrypted connection (not once the peer has it: acknowledging is the outbox's own protocol), a
// handler gets (pubkey, type, payload) one message at a time per peer, in the order they came, and onPeer says
// when to resend what was not acknowledged.

import { roomApi } from '../core/room.js';
import type { CommitWith, DeliveryHandler } from './delivery.js';

export type { CommitWith, Delivered, DeliveryHandler, DeliveryWrite, Reply } from './delivery.js';

/** Message types a handler takes: a list, or an inclusive range (e.g. DLC's 42772..42792). */
export type MessageTypes = readonly number[] | { from: number; to: number };

export type MessageHandler = (pubkey: string, type: number, payload: Buffer) => void | Promise<void>;

export type PeerEvent = { pubkey: string; event: 'connected' } | { pubkey: string; event: 'disconnected'; reason: string };

export interface P2pApi {
  /** This node's key (66 hex), or undefined until the HSM has it (a keystore locked since start). */
  nodeId(): string | undefined;
  /** The peers connected now (after the init exchange), by node key. */
  connected(): string[];
  /**
   * Sends one message (type 0..65535, payload up to 65,533 bytes: BOLT 8's 65,535 less the type). Errors: NotFound
   * (-32011) when the peer is not connected, InvalidParams (-32602) for a type the room speaks itself (BOLT 1's
   * init, ping, pong, error, warning) or a payload too large, Busy (-32015) when p2p.maxqueuedbytes wait for it.
   */
  send(pubkey: string, type: number, payload: Uint8Array): Promise<void>;
  /**
   * Takes messages of these types from every peer. Claiming an even type tells peers we understand it (BOLT 1's
   * odd/even rule: an even type nobody claims ends the connection); a type may have one handler. A handler's
   * promise is waited for before the next message of that peer is handed over; a handler that throws is logged.
   * Answers the function that gives the types back.
   */
  onMessage(types: MessageTypes, handler: MessageHandler): () => void;
  /**
   * Durable delivery (delivery.ts): queues one message (type 0..65535, payload up to 65,515 bytes: 65,535 less the
   * envelope) in the outbox to this peer, connected or not, and resolves with its id once that is durable, NOT
   * once sent. It goes out on every connection, oldest first, until the peer acknowledges it took it; the peer's
   * room gets it once (onDelivered). Errors: InvalidParams for a bad type or size, Busy (-32015) when the outbox
   * to that peer would pass p2p.maxoutboxbytes. With `commitWith`, the outbox entry is written by the caller, in
   * its own batch with the state change that sends the message (a transactional outbox: a crash leaves both or
   * neither); the peer's outbox is held for other messages until it resolves, so it must not wait on anything else.
   */
  deliver(pubkey: string, type: number, payload: Uint8Array, commitWith?: CommitWith): Promise<{ id: string; seq: number }>;
  /**
   * Takes delivered messages of these (inner) types, from every peer: one at a time per peer, in its order; peers
   * in parallel, so a handler guards its own state (its keyed locks). The handler returns the
   * writes it makes for a message ({ ops, after }, like a ChainListener): they are committed in ONE batch with the
   * mark that the message was taken, then after() runs, then the peer is acknowledged. So a handler is called again
   * for the same message only when its batch did not land (a crash before it, a throw): it must not write outside
   * ops. A handler that throws leaves the message unacknowledged (it comes again on the next connection, and the
   * messages after it wait). A write's `replies` are queued to the sender in that same batch, and a handler that
   * must know its step landed before it goes on calls `m.commit(write)` itself instead of returning it. Delivered types no room takes go to the custom-message inbox (peer.custommsg).
   */
  onDelivered(types: MessageTypes, handler: DeliveryHandler): () => void;
  /** Peers connecting (init exchanged) and disconnecting; answers the function that stops the notifications. */
  onPeer(handler: (e: PeerEvent) => void): () => void;
}

/** The handle a room lists in `requires` and passes to `ctx.use` for the p2p room's api. */
export const P2P = roomApi<P2pApi>('p2p');
