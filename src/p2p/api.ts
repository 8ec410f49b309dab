// What other rooms may use of the p2p room (declared in their `requires`): messages to and from connected peers by
// node key, and word of peers coming and going. Made for an outbox to sit on: send() resolves once the message is
// handed to the encrypted connection (not once the peer has it: acknowledging is the outbox's own protocol), a
// handler gets (pubkey, type, payload) one message at a time per peer, in the order they came, and onPeer says
// when to resend what was not acknowledged.

import { roomApi } from '../core/room.js';

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
  /** Peers connecting (init exchanged) and disconnecting; answers the function that stops the notifications. */
  onPeer(handler: (e: PeerEvent) => void): () => void;
}

/** The handle a room lists in `requires` and passes to `ctx.use` for the p2p room's api. */
export const P2P = roomApi<P2pApi>('p2p');
