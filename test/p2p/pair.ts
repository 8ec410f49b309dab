// Test helper: a TCP listener on 127.0.0.1 and a dialled socket, so both ends of a PeerTransport run over a real
// kernel socket.
import net from 'node:net';
import { once } from 'node:events';

export interface SocketPair {
  client: net.Socket;
  server: net.Socket;
  close(): void;
}

export async function socketPair(): Promise<SocketPair> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as net.AddressInfo;
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = await accepted;
  listener.close();
  return {
    client,
    server,
    close() {
      client.destroy();
      server.destroy();
    },
  };
}
