import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { PlantConfig, TagDef } from '../../config/plant.schema.ts';
import { decode, encode } from '../../nats/codec.ts';
import { deadLetter } from '../../nats/dlq.ts';
import { encodeId } from '../../nats/ids.ts';
import { CommandSchema, type CommandResult } from '../../nats/command.schema.ts';
import { subjects } from '../../nats/subjects.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { pause } from './pause.ts';

/** Options of {@link startCommandExecutor}. */
export interface CommandExecutorOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  config: PlantConfig;
  src: string;
  /** Writes to the control system; resolves to undefined on success or a reason code. */
  write(tag: TagDef, value: string | number | boolean): Promise<string | undefined>;
  log: Logger;
  metrics: Metrics;
}

const STREAM = 'COMMANDS';

/**
 * Executes guarded writes from `cmd.<src>`: only allowlisted (source, tag, value), by an issuer holding one of the
 * rule's roles, before expiry, at most `maxPerMinute` per tag (DESIGN.md principle 10, 21 CFR 11.10(f) operational
 * checks, 11.10(g) authority checks); every command gets an outcome on `cmdres.<src>` before it is acked.
 */
export async function startCommandExecutor(o: CommandExecutorOptions): Promise<{ stop(): Promise<void> }> {
  const { js, jsm, src, log } = o;
  const durable = `edge-cmd-${encodeId(src)}`;
  const config = {
    durable_name: durable,
    filter_subject: subjects.command(src),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: 1,
    ack_wait: 30 * 1e9,
  };
  try {
    await jsm.consumers.add(STREAM, config);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'command consumer exists with other settings: updating');
    await jsm.consumers.update(STREAM, durable, config);
  }
  const done = new Map<string, CommandResult>();
  const recent = new Map<string, number[]>();
  let stopped = false;
  const halt = new AbortController();
  let stopConsume: (() => void) | undefined;
  const loop = (async () => {
    while (!stopped) {
      try {
        const consumer = await js.consumers.get(STREAM, durable);
        const messages = await consumer.consume({ max_messages: 10 });
        stopConsume = () => void messages.stop();
        if (stopped) messages.stop();
        for await (const m of messages) await handle(m, o, done, recent);
      } catch (err) {
        if (!stopped) log.warn({ err: (err as Error).message }, 'command consumer failed: retrying');
      }
      if (!stopped) await pause(1000, halt.signal);
    }
  })();
  log.info({ durable }, 'guarded writes enabled');
  return {
    async stop() {
      stopped = true;
      halt.abort();
      stopConsume?.();
      await loop;
    },
  };
}

async function handle(m: JsMsg, o: CommandExecutorOptions, done: Map<string, CommandResult>, recent: Map<string, number[]>): Promise<void> {
  let result: CommandResult;
  try {
    result = await decide(m, o, done, recent);
  } catch (err) {
    o.log.error({ err, seq: m.seq }, 'command handling failed');
    const id = `unknown:${m.seq}`;
    result = { id, src: o.src, tag: null, value: null, outcome: 'failed', reason: 'internal_error', at: Date.now() };
  }
  // Remembered before publishing: a redelivery after a failed publish must answer again, never write twice.
  done.set(result.id, result);
  if (done.size > 1000) done.delete(done.keys().next().value!);
  try {
    await o.js.publish(subjects.commandResult(o.src), encode(result), { msgID: `res:${result.id}` });
    await m.ackAck();
    const labels = { src: o.src, outcome: result.outcome };
    o.metrics.inc('phaseline_edge_commands_total', labels, 1, 'Guarded writes by outcome');
    o.log.info({ id: result.id, tag: result.tag, outcome: result.outcome, reason: result.reason }, 'command outcome');
  } catch (err) {
    o.log.warn({ err: (err as Error).message, id: result.id }, 'publishing command outcome failed: will retry');
    m.nak(1000);
  }
}

async function decide(m: JsMsg, o: CommandExecutorOptions, done: Map<string, CommandResult>, recent: Map<string, number[]>): Promise<CommandResult> {
  const at = () => Date.now();
  let raw: unknown;
  try {
    raw = decode(m.data);
  } catch (err) {
    return refuseMalformed(m, o, `not MessagePack: ${(err as Error).message}`, raw);
  }
  const parsed = CommandSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return refuseMalformed(m, o, `${issue.path.join('.') || '(root)'}: ${issue.message}`, raw);
  }
  const cmd = parsed.data;
  const previous = done.get(cmd.id);
  if (previous) return previous;
  const { id, tag: tagName, value, by, ref } = cmd;
  const base = { id, src: o.src, tag: tagName, value, by, ...(ref ? { ref } : {}) };
  const refuse = (reason: string, detail: string): CommandResult => ({
    ...base,
    outcome: 'refused',
    reason,
    detail,
    at: at(),
  });
  const tag = o.config.tags.find((t) => t.tag === cmd.tag && t.source === o.src);
  const rule = o.config.commands.find((r) => r.source === o.src && r.tag === cmd.tag);
  if (!tag || !tag.node || !rule) return refuse('not_allowlisted', `${cmd.tag} is not a writable tag of ${o.src}`);
  const inValues = rule.values?.some((v) => v === cmd.value) ?? false;
  const range = rule.range;
  const inRange = range !== undefined && typeof value === 'number' && value >= range.min && value <= range.max;
  if (!inValues && !inRange) return refuse('value_not_allowed', `${JSON.stringify(value)} is not allowed for ${tagName}`);
  if (typeof cmd.value !== tag.dataType) return refuse('type_mismatch', `${cmd.tag} takes a ${tag.dataType}`);
  if (at() > cmd.expiresAt) return refuse('expired', `expired at ${new Date(cmd.expiresAt).toISOString()}`);
  if (!cmd.roles.some((r) => rule.roles.includes(r))) {
    return refuse('role_not_allowed', `${cmd.by} (roles ${cmd.roles.join(', ') || 'none'}) may not write ${tagName}; allowed: ${rule.roles.join(', ')}`);
  }
  if (!admitWrite(recent, tagName, rule.maxPerMinute, at())) {
    return refuse('rate_limited', `${tagName} was written ${rule.maxPerMinute} times in the last minute (the limit)`);
  }
  const failure = await o.write(tag, cmd.value);
  if (failure) return { ...base, outcome: 'failed', reason: 'write_failed', detail: failure, at: at() };
  return { ...base, outcome: 'executed', at: at() };
}

async function refuseMalformed(
  m: JsMsg,
  o: CommandExecutorOptions,
  detail: string,
  raw: unknown,
): Promise<CommandResult> {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const id = typeof r.id === 'string' && r.id.length > 0 && r.id.length <= 200 ? r.id : `unknown:${m.seq}`;
  try {
    const letter = { reason: 'malformed', detail, subject: m.subject, data: m.data, stream: STREAM, streamSeq: m.seq };
    await deadLetter(o.js, o.metrics, letter, `dlq:${STREAM}:${m.seq}`);
  } catch (err) {
    o.log.warn({ err: (err as Error).message }, 'dead-lettering a malformed command failed');
  }
  const [tag, value] = [r.tag ?? null, r.value ?? null];
  return { id, src: o.src, tag, value, outcome: 'refused', reason: 'malformed', detail, at: Date.now() };
}

/**
 * A sliding one-minute window per tag: admits (and records) a write unless `limit` writes were admitted in the last
 * 60 s. Refused attempts do not count, so a runaway caller cannot lock the tag out forever.
 */
export function admitWrite(recent: Map<string, number[]>, tag: string, limit: number, now: number): boolean {
  const window = (recent.get(tag) ?? []).filter((t) => t > now - 60_000);
  const ok = window.length < limit;
  recent.set(tag, ok ? [...window, now] : window);
  return ok;
}
