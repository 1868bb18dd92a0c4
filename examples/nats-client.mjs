#!/usr/bin/env node
// A NATS-native LSE client: no LSE code, no HTTP. Publishes a dependency manifest to
// lse.synth.requested (JetStream) and waits for lse.events.synthesis.completed.<id> (or .failed.<id>).
//
//   eval "$(bash infra/local/stack.sh env)"            # NATS_URL of the running stack
//   node examples/nats-client.mjs examples/web-api.yaml [synthesis-id]
//
// Contract (libs/contracts): payload { v: 1, synthesisId, manifest: <object or YAML text>,
// platform?: { os, arch, variant? }, requestedAt }, headers Lse-Synthesis-Id, Lse-Request-Id and
// Nats-Msg-Id: "requested:<id>" (JetStream drops a repeated request with the same id).
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { connect, headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';

const [file, idArg] = process.argv.slice(2);
if (!file || file === '--help') {
  console.error(
    'usage: node examples/nats-client.mjs MANIFEST.yaml [SYNTHESIS_ID]   (NATS_URL, default nats://127.0.0.1:4222)',
  );
  process.exit(file ? 0 : 2);
}
const id = idArg ?? `nats-${randomBytes(6).toString('hex')}`;
// NATS_URL may list a cluster's nodes, comma-separated.
const nc = await connect({
  servers: (process.env.NATS_URL ?? 'nats://127.0.0.1:4222').split(','),
  name: 'lse-example-client',
  maxReconnectAttempts: -1,
});
const timeoutMs = Number(process.env.LSE_WAIT_SECONDS ?? 120) * 1000;

// Subscribe to this synthesis' events before publishing, so none is missed.
const sub = nc.subscribe(`lse.events.synthesis.*.${id}`);
const h = headers();
h.set('Lse-Synthesis-Id', id);
h.set('Lse-Request-Id', id);
const payload = { v: 1, synthesisId: id, manifest: readFileSync(file, 'utf8'), requestedAt: new Date().toISOString() };
const ack = await jetstream(nc).publish('lse.synth.requested', JSON.stringify(payload), {
  headers: h,
  msgID: `requested:${id}`,
});
console.error(`requested ${id} (stream ${ack.stream}, seq ${ack.seq}${ack.duplicate ? ', duplicate' : ''})`);

const timer = setTimeout(() => {
  console.error(`no result after ${timeoutMs / 1000}s`);
  process.exit(1);
}, timeoutMs);
let code = 1;
for await (const m of sub) {
  const ev = m.json();
  const kind = m.subject.split('.')[3];
  if (kind === 'progress') console.error(`  ${ev.stage}: ${ev.detail ?? ''}`);
  if (kind === 'completed') {
    console.log(
      JSON.stringify({
        synthesisId: id,
        key: ev.key,
        manifestDigest: ev.image.manifestDigest,
        layers: ev.image.layers.length,
      }),
    );
    code = 0;
    break;
  }
  if (kind === 'failed') {
    console.error(`failed at ${ev.stage}: ${ev.code}: ${ev.message}`);
    break;
  }
}
clearTimeout(timer);
await nc.drain();
process.exit(code);
