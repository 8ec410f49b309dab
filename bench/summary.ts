// The benchmark's summary: one table of the figures the performance targets name, each with its baseline and ratio,
// written to docs/bench.json (every figure) and into README.md between its bench markers, with date and machine,
// so a regression shows in review. A run of some parts keeps the other parts' last figures (and says so per row).

import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

type Results = Record<string, unknown>;
type Row = [figure: string, measured: string, baseline: string, ratio: string, target: string];

const get = (r: Results, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], r);
const n = (r: Results, path: string): number | undefined => {
  const v = get(r, path);
  return typeof v === 'number' ? v : undefined;
};
const f = (x: number | undefined, unit = ''): string => (x === undefined ? '—' : `${x}${unit}`);

function rows(r: Results): Row[] {
  const out: Row[] = [];
  for (const name of ['core', 'default'] as const) {
    const s = `startup.${name}`;
    out.push([
      `start-to-ready, ${name} rooms (p50)`,
      f(n(r, `${s}.start_to_ready_ms.p50`), ' ms'),
      `bare node ${f(n(r, `${s}.bare_node_start_ms.p50`), ' ms')}`,
      f(n(r, `${s}.start_ratio`), '×'),
      name === 'core' ? '< 300 ms' : '< 500 ms',
    ]);
    out.push([
      `idle RSS, ${name} rooms (p50)`,
      f(n(r, `${s}.idle_rss_mb.p50`), ' MB'),
      `bare node ${f(n(r, `${s}.bare_node_rss_mb.p50`), ' MB')}`,
      f(n(r, `${s}.rss_ratio`), '×'),
      name === 'core' ? '≤ 70 MB' : '≤ 100 MB',
    ]);
  }
  if (get(r, 'startup.npm_start'))
    out.push([
      'start-to-ready, npm start: default rooms + embedded chain + keystore, fresh datadir (p50)',
      f(n(r, 'startup.npm_start.start_to_ready_ms.p50'), ' ms'),
      `default rooms ${f(n(r, 'startup.default.start_to_ready_ms.p50'), ' ms')}`,
      `+${f(n(r, 'startup.npm_start.over_default_ms'), ' ms')}`,
      'reported apart (no target)',
    ]);
  out.push([
    'anya-cli, one call (p50)',
    f(n(r, 'cli.anya_cli_uptime_ms.p50'), ' ms'),
    `node -e 0 ${f(n(r, 'cli.bare_node_ms.p50'), ' ms')}`,
    f(n(r, 'cli.ratio_p50'), '×'),
    '< 2×',
  ]);
  for (const row of (get(r, 'rpc') as Array<Record<string, unknown>> | undefined) ?? []) {
    const a = row.anyad as { rps: number; p50_ms: number; p99_ms: number };
    const b = row.baseline as { rps: number };
    out.push([
      `RPC ${String(row.transport)}, ${String(row.clients)} clients`,
      `${a.rps} req/s (p50 ${a.p50_ms} ms, p99 ${a.p99_ms} ms)`,
      `bare ${row.transport === 'unix' ? 'NDJSON' : 'ws'} echo ${b.rps} req/s`,
      `${String(row.throughput_ratio)}×`,
      '≥ 0.85×',
    ]);
  }
  for (const row of (get(r, 'rpc_loaded') as Array<Record<string, unknown>> | undefined) ?? []) {
    const a = row.anyad as { rps: number; p50_ms: number; p99_ms: number };
    out.push([
      `RPC ${String(row.transport)}, 16 clients, ${String(row.neighbours)} CPU burners beside`,
      `${a.rps} req/s (p99 ${a.p99_ms} ms)`,
      `echo ${(row.baseline as { rps: number }).rps} req/s`,
      `${String(row.throughput_ratio)}×`,
      '≥ 0.6×',
    ]);
  }
  out.push([
    'RPC unix vs bcoin HTTP JSON-RPC, 16 clients',
    f(n(r, 'rpc_vs_bcoin.anyad_unix.rps'), ' req/s'),
    `bcoin getblockcount ${f(n(r, 'rpc_vs_bcoin.bcoin_http_getblockcount.rps'), ' req/s')}`,
    f(n(r, 'rpc_vs_bcoin.ratio'), '×'),
    '≥ 5×',
  ]);
  out.push([
    'chain catch-up, 2000 blocks, no chain.watch (wallet and ml rooms on: full blocks)',
    f(n(r, 'catchup.anyad_blocks_per_s'), ' blocks/s'),
    `node getblockhash+getblock ${f(n(r, 'catchup.node_getblock_blocks_per_s'), ' blocks/s')}`,
    f(n(r, 'catchup.ratio'), '×'),
    '≥ 1.0×',
  ]);
  out.push([
    'chain catch-up under load, no chain.watch',
    f(n(r, 'catchup_loaded.anyad_blocks_per_s'), ' blocks/s'),
    `node ${f(n(r, 'catchup_loaded.node_getblock_blocks_per_s'), ' blocks/s')}`,
    f(n(r, 'catchup_loaded.ratio'), '×'),
    '≥ 1.0×',
  ]);
  out.push([
    'chain catch-up, an address watched (full blocks)',
    f(n(r, 'catchup_watched.anyad_blocks_per_s'), ' blocks/s'),
    `node ${f(n(r, 'catchup_watched.node_getblock_blocks_per_s'), ' blocks/s')}`,
    f(n(r, 'catchup_watched.ratio'), '×'),
    '≥ 1.0×',
  ]);
  out.push([
    '`hsm.sign` with the audit log, one caller',
    `p50 ${f(n(r, 'hsm.rpc_hsm_sign_unix_audited.p50_ms'), ' ms')}, p99 ${f(n(r, 'hsm.rpc_hsm_sign_unix_audited.p99_ms'), ' ms')}`,
    `without audit p50 ${f(n(r, 'hsm.rpc_hsm_sign_unix.p50_ms'), ' ms')}`,
    f(n(r, 'hsm.audit_cost_ratio_p50'), '×'),
    'p50 ≤ 1.5 ms, p99 ≤ 5 ms',
  ]);
  out.push([
    '`hsm.sign` with the audit log, 16 callers',
    f(n(r, 'hsm.concurrent_16.audited_per_s'), '/s'),
    `without audit ${f(n(r, 'hsm.concurrent_16.unaudited_per_s'), '/s')}`,
    f(n(r, 'hsm.concurrent_16.ratio'), '×'),
    '(group commit)',
  ]);
  out.push([
    '`ln.getinfo` via anyad (CLN)',
    f(n(r, 'lightning.cln.getinfo_per_s.anyad'), '/s'),
    `lightningd socket ${f(n(r, 'lightning.cln.getinfo_per_s.direct'), '/s')}`,
    f(n(r, 'lightning.cln.getinfo_per_s.ratio'), '×'),
    '≥ 0.6×',
  ]);
  out.push([
    'LND backend, start-to-ready added',
    f(n(r, 'lightning.lnd.start_to_ready.added_ms'), ' ms'),
    `without ${f(n(r, 'lightning.lnd.start_to_ready.p50_ms_without'), ' ms')}; LND attached (background) at ${f(n(r, 'lightning.lnd.start_to_ready.p50_ms_backend_attached'), ' ms')}`,
    '—',
    '≤ +500 ms',
  ]);
  out.push([
    'WebSocket fan-out, 1000 subscribers, p99',
    f(n(r, 'fanout.anyad_p99_ms.p50'), ' ms'),
    `bare ws ${f(n(r, 'fanout.baseline_p99_ms.p50'), ' ms')}`,
    f(n(r, 'fanout.ratio'), '×'),
    '≤ bare ws',
  ]);
  out.push([
    'block of 3000 txs vs 100k addresses + 100k outpoints',
    `p50 ${f(n(r, 'watches.block_match_ms.p50'), ' ms')}, p99 ${f(n(r, 'watches.block_match_ms.p99'), ' ms')}`,
    `empty list ${f(n(r, 'watches.empty_list_match_ms.p50'), ' ms')}`,
    f(n(r, 'watches.match_ratio'), '×'),
    '< 50 ms',
  ]);
  out.push([
    '`chain.watch` add rate (batches of 1000)',
    f(n(r, 'watches.add_per_s.addresses'), '/s'),
    `LevelDB alone ${f(n(r, 'watches.add_per_s.level_baseline'), '/s')}`,
    f(n(r, 'watches.add_ratio'), '×'),
    `${f(n(r, 'watches.heap_bytes_per_watch'), ' B')} heap per watch; restart loads 200k in ${f(n(r, 'watches.load_ms'), ' ms')}`,
  ]);
  out.push([
    `DLC CET adaptor signature (sign / verify, p50) on ${typeof get(r, 'dlc.backend') === 'string' ? String(get(r, 'dlc.backend')) : '@noble/curves'}`,
    `${f(n(r, 'dlc.adaptor_sign_p50_ms'), ' ms')} / ${f(n(r, 'dlc.adaptor_verify_p50_ms'), ' ms')}`,
    `ECDSA ${f(n(r, 'dlc.raw_ecdsa_sign_p50_ms'), ' ms')} / ${f(n(r, 'dlc.raw_ecdsa_verify_p50_ms'), ' ms')}`,
    `${f(n(r, 'dlc.adaptor_sign_ratio'), '×')} / ${f(n(r, 'dlc.adaptor_verify_ratio'), '×')}`,
    '≤ 2× / ≤ 1.5× (DLEQ proof: ~2 more multiplications each)',
  ]);
  out.push([
    'DLC numeric contract, 2^10 outcomes, both parties',
    `${f(n(r, 'dlc.numeric_1024.contract_ms'), ' ms')} for ${f(n(r, 'dlc.numeric_1024.cets'))} CETs`,
    `as many plain ECDSA signatures ${f(n(r, 'dlc.numeric_1024.raw_signatures_ms'), ' ms')}`,
    f(n(r, 'dlc.numeric_1024.ratio'), '×'),
    '(offer, accept, sign computation) ≤ 1 s',
  ]);
  out.push([
    'DLC numeric contract, 2^17 outcomes, both parties',
    `${f(n(r, 'dlc.numeric_131072.contract_ms'), ' ms')} for ${f(n(r, 'dlc.numeric_131072.cets'))} CETs`,
    `as many plain ECDSA signatures ${f(n(r, 'dlc.numeric_131072.raw_signatures_ms'), ' ms')}`,
    f(n(r, 'dlc.numeric_131072.ratio'), '×'),
    'measured',
  ]);
  out.push([
    `state channel update between two anyads (${f(n(r, 'channels.updates'))} states over RPC)`,
    `${f(n(r, 'channels.updates_per_s'), '/s')} (p50 ${f(n(r, 'channels.update_ms.p50_ms'), ' ms')}, p99 ${f(n(r, 'channels.update_ms.p99_ms'), ' ms')})`,
    `its five audited hsm.sign p50 ${f(n(r, 'channels.five_signatures_ms.p50_ms'), ' ms')}`,
    f(n(r, 'channels.ratio'), '×'),
    `record ${f(n(r, 'channels.record_bytes_after_1'), ' B')} after 1 state, ${f(n(r, 'channels.record_bytes_after_n'), ' B')} after all`,
  ]);
  out.push([
    `state channel update over the peer network (${f(n(r, 'channels.updates'))} states, no message carried)`,
    `${f(n(r, 'channels.wire.updates_per_s'), '/s')} (p50 ${f(n(r, 'channels.wire.update_ms.p50_ms'), ' ms')}, p99 ${f(n(r, 'channels.wire.update_ms.p99_ms'), ' ms')})`,
    `the same over RPC ${f(n(r, 'channels.updates_per_s'), '/s')}`,
    f(n(r, 'channels.wire.throughput_ratio'), '×'),
    '≥ 100 updates/s, p50 ≤ 10 ms (issue 30)',
  ]);
  out.push([
    `Lightning payment between two anyads on the embedded LDK node (${f(n(r, 'ldk.anyad.payments'))} payments, one at a time)`,
    `${f(n(r, 'ldk.anyad.payments_per_s'), '/s')} (p50 ${f(n(r, 'ldk.anyad.p50_ms'), ' ms')}, p99 ${f(n(r, 'ldk.anyad.p99_ms'), ' ms')})`,
    `two LDK nodes in one process, ChannelManager called directly: ${f(n(r, 'ldk.in_process.payments_per_s'), '/s')} (p50 ${f(n(r, 'ldk.in_process.p50_ms'), ' ms')}, p99 ${f(n(r, 'ldk.in_process.p99_ms'), ' ms')})`,
    `p50 ${f(n(r, 'ldk.p50_ratio'), '×')}`,
    'p50 < 50 ms (issue 29)',
  ]);
  for (const [m, goal] of [
    ['getbalance', '< 5 ms'],
    ['listunspent', '< 20 ms'],
    ['fundpsbt', '< 20 ms'],
  ] as const)
    out.push([
      `\`wallet.${m}\`, ${f(n(r, 'wallet.coins'))} coins`,
      `p50 ${f(n(r, `wallet.${m}.p50_ms`), ' ms')}, p99 ${f(n(r, `wallet.${m}.p99_ms`), ' ms')}`,
      `LevelDB scan of the coin records ${f(n(r, `wallet.${m}.level_scan.p50_ms`), ' ms')}`,
      f(n(r, `wallet.${m}.ratio_p50`), '×'),
      goal,
    ]);
  out.push([
    `\`wallet.rescan\` of ${f(n(r, 'wallet_rescan.blocks'))} blocks (${f(n(r, 'wallet_rescan.wallet_transactions'))} wallet transactions)`,
    `${f(n(r, 'wallet_rescan.rescan_s'), ' s')} (${f(n(r, 'wallet_rescan.rescan_blocks_per_s'), ' blocks/s')})`,
    `the node's getblockhash+getblock of the same blocks ${f(n(r, 'wallet_rescan.node_getblock_s'), ' s')}`,
    f(n(r, 'wallet_rescan.ratio'), '×'),
    'near 1× (reading the blocks)',
  ]);
  for (const [key, what] of [
    ['tracking', "confirmation tracking (Core's method)"],
    ['projected_50k_cut', 'projected blocks, 50k-tx mempool, a new cut'],
    ['projected_5k', 'projected blocks, 5k-tx mempool'],
  ] as const)
    out.push([
      `\`ml.estimatefee\` by ${what}`,
      `p50 ${f(n(r, `fees.estimate_ms.${key}.p50`), ' ms')}, p99 ${f(n(r, `fees.estimate_ms.${key}.p99`), ' ms')}`,
      '—',
      '—',
      'measured',
    ]);
  out.push([
    `fee model retrain on ${f(n(r, 'fees.retrain.observations'))} observations (${f(n(r, 'fees.retrain.training_rows'))} rows × ${f(n(r, 'fees.retrain.epochs'))} epochs)`,
    f(n(r, 'fees.retrain.retrain_ms'), ' ms'),
    `the same forward passes ${f(n(r, 'fees.retrain.baseline_forward_passes_ms'), ' ms')}`,
    f(n(r, 'fees.retrain.ratio'), '×'),
    'measured',
  ]);
  return out;
}

export function table(r: Results): string {
  const head: Row = ['figure', 'measured', 'baseline (same run)', 'ratio', 'target'];
  const lines = [head, ['---', '---', '---', '---', '---'] as Row, ...rows(r)].map((cells) => `| ${cells.join(' | ')} |`);
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GB, Node ${String(r.node)} ${String(r.arch)}`;
  return `Last \`npm run bench\`: ${String(r.date)} on ${machine}.\n\n${lines.join('\n')}\n`;
}

/** Merges this run into docs/bench.json and rewrites the README's table. */
export async function writeSummary(root: string, results: Results): Promise<void> {
  const jsonFile = join(root, 'docs', 'bench.json');
  const previous = existsSync(jsonFile) ? (JSON.parse(await readFile(jsonFile, 'utf8')) as Results) : {};
  const merged = { ...previous, ...results, date: new Date().toISOString().slice(0, 10) };
  await writeFile(jsonFile, `${JSON.stringify(merged, null, 2)}\n`);
  const readmeFile = join(root, 'README.md');
  const readme = await readFile(readmeFile, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const i = readme.indexOf(start);
  const j = readme.indexOf(end);
  if (i < 0 || j < i) return;
  await writeFile(readmeFile, `${readme.slice(0, i + start.length)}\n${table(merged)}${readme.slice(j)}`);
  console.log(`\n${table(merged)}`);
}
