// Baselines for the RPC benchmarks, run as their own process like anyad: a bare NDJSON echo server on a Unix
// socket, and a bare `ws` server that echoes and (on "broadcast") sends one message to every client.
import { createServer } from 'node:net';
import { unlinkSync } from 'node:fs';
import { WebSocketServer } from 'ws';
import { LineSplitter } from '../src/core/lines.js';

const [mode, path] = process.argv.slice(2);
if (mode === 'unix') {
  try {
    unlinkSync(path!);
  } catch {
    // nothing to remove
  }
  const server = createServer((s) => {
    const lines = new LineSplitter();
    s.setEncoding('utf8');
    s.on('data', (c: string) => lines.push(c, (l) => s.write(`${l}\n`)));
    s.on('error', () => undefined);
  });
  server.listen(path, () => process.stdout.write('ready\n'));
} else {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (d) => {
      const text = d.toString();
      if (text.startsWith('broadcast:')) for (const c of wss.clients) c.send(text);
      else ws.send(text);
    });
  });
  wss.on('listening', () => process.stdout.write(`ready ${(wss.address() as { port: number }).port}\n`));
}
