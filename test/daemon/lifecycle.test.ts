// The Node's lifecycle through a real Daemon: dependency order, reverse close, a required service failing, an
// optional one failing, dependency cycles, and warm-up (-28 with the stage while services open).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FatalStartError } from '../../src/daemon/daemon.js';
import { tempDir } from '../helpers/daemon.js';
import { unixChannel } from '../helpers/channel.js';
import { startInProcess } from '../helpers/inproc.js';
import { testRoom } from '../fixtures/test-room.js';

describe('lifecycle', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());
  let n = 0;
  const datadir = (): string => join(dir.path, `d${++n}`);

  it('opens services in dependency order and closes them in reverse', async () => {
    const events: string[] = [];
    const rooms = [testRoom({ events }, 'alpha'), testRoom({ events }, 'beta'), testRoom({ events }, 'gamma')];
    const { started } = startInProcess(datadir(), rooms, ['-alpha.requires=gamma', '-gamma.requires=beta']);
    const daemon = await started;
    assert.deepEqual(events, ['open beta', 'open gamma', 'open alpha']);
    await daemon.stop('test');
    assert.equal(await daemon.done, 0);
    assert.deepEqual(events.slice(3), ['close alpha', 'close gamma', 'close beta']);
  });

  it('a service that never finishes closing is logged and left behind; the others still close and anyad stops', async () => {
    const events: string[] = [];
    const { started, logs } = startInProcess(
      datadir(),
      [testRoom({ events }, 'alpha'), testRoom({ events }, 'beta')],
      ['-beta.hangclose', '-shutdowntimeout=0'],
    );
    const daemon = await started;
    await daemon.stop('test');
    assert.equal(await daemon.done, 0);
    assert.deepEqual(events.slice(2), ['close beta', 'close alpha']);
    assert.ok(logs.lines.some((l) => l.msg === 'service did not close in time; stopping without it' && l.service === 'beta' && l.ms === 5000));
    assert.ok(logs.lines.some((l) => l.msg === 'anyad stopped'));
  });

  it('a required service that fails stops the start with its reason and closes what was opened', async () => {
    const events: string[] = [];
    const { started, logs } = startInProcess(datadir(), [testRoom({ events }, 'alpha'), testRoom({ events }, 'beta')], ['-beta.failopen']);
    await assert.rejects(
      started,
      (e: unknown) => e instanceof FatalStartError && /service 'beta' failed to open: beta refused to open \(as configured\)/.test(e.message),
    );
    assert.deepEqual(events, ['open alpha', 'open beta', 'close alpha']);
    assert.ok(logs.lines.some((l) => l.msg === 'required service failed to open' && l.service === 'beta'));
  });

  it('an optional service that fails leaves the daemon up, health says why, and its dependents still open', async () => {
    const events: string[] = [];
    const dd = datadir();
    const { started } = startInProcess(
      dd,
      [testRoom({ events }, 'alpha'), testRoom({ events }, 'beta')],
      ['-alpha.failopen', '-alpha.optional', '-beta.optional', '-beta.requires=alpha'],
    );
    const daemon = await started;
    const ch = await unixChannel(join(dd, 'regtest', 'anya.sock'));
    const health = (await ch.call('health')).result as { status: string; services: Record<string, { state: string; detail: string }> };
    assert.equal(health.status, 'degraded');
    assert.equal(health.services.alpha!.state, 'unavailable');
    assert.equal(health.services.alpha!.detail, 'configured to fail');
    assert.equal(health.services.beta!.state, 'ok');
    assert.deepEqual(events, ['open alpha', 'open beta']);
    assert.equal(typeof ((await ch.call('getinfo')).result as { uptime: number }).uptime, 'number');
    ch.close();
    await daemon.stop('test');
  });

  it('refuses a dependency cycle or an unknown dependency before listening', async () => {
    const { started } = startInProcess(datadir(), [testRoom({}, 'alpha'), testRoom({}, 'beta')], ['-alpha.requires=beta', '-beta.requires=alpha']);
    await assert.rejects(started, /service dependency cycle: alpha -> beta -> alpha/);
    const { started: s2 } = startInProcess(datadir(), [testRoom({}, 'alpha')], ['-alpha.requires=bitcoind']);
    await assert.rejects(s2, /service 'alpha' requires 'bitcoind', which is not configured/);
  });

  it('answers -28 with the stage while a service opens; warm-up methods answer; then everything works', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const dd = datadir();
    const { started, logs } = startInProcess(dd, [testRoom({ openGate: gate })]);
    await logs.waitFor((l) => l.msg === 'anyad serving RPC; opening services');
    const ch = await unixChannel(join(dd, 'regtest', 'anya.sock'));
    const warm = await ch.call('getinfo');
    assert.equal(warm.error?.code, -28);
    assert.deepEqual(warm.error?.data, { stage: 'opening test' });
    assert.equal(warm.error?.message, 'anyad is starting: opening test');
    assert.equal(typeof (await ch.call('uptime')).result, 'number');
    assert.deepEqual(((await ch.call('health')).result as { status: string; stage: string }).status, 'starting');
    const sub = (await ch.call('subscribe', { topics: ['daemon.ready'] })).result as { subscription: string };
    release();
    const daemon = await started;
    const ev = (await ch.next()) as { method: string; params: { subscription: string; topic: string; data: { startup_ms: number } } };
    assert.equal(ev.method, 'event');
    assert.equal(ev.params.subscription, sub.subscription);
    assert.equal(ev.params.topic, 'daemon.ready');
    assert.equal(typeof ev.params.data.startup_ms, 'number');
    assert.equal(((await ch.call('getinfo')).result as { network: string }).network, 'regtest');
    ch.close();
    await daemon.stop('test');
  });
});
