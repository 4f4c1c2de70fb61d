import type { KV } from '@nats-io/kv';
import type { ActorRecord } from '../../../actors/apply.ts';
import type { ActorKind } from '../../../actors/kind.ts';
import { decode } from '../../../nats/codec.ts';
import { encodeId, tryDecodeId } from '../../../nats/ids.ts';

/** A page of views and the cursor of the next one (absent on the last page). */
export interface ViewPage {
  views: Record<string, unknown>[];
  next?: string;
}

/**
 * Reads actors as the host persisted them (the actors KV bucket: snapshot + outbox per actor, DESIGN.md principle 3),
 * so that any process can answer HTTP, hosting the actors or not (principle 4). Views may lag an input by a moment; no
 * decision is ever taken from one — inputs go to the owning host through the INBOX.
 */
export interface ActorReader {
  record(type: string, id: string): Promise<ActorRecord | undefined>;
  view(type: string, id: string): Promise<Record<string, unknown> | undefined>;
  /** Views of a type in id order, `limit` at a time, after the cursor `after` (an id). */
  list(type: string, page: { limit: number; after?: string }): Promise<ViewPage>;
}

/** An {@link ActorReader} over the actors KV bucket, rendering views with each kind's own `view`. */
export function kvActorReader(kv: KV, kinds: readonly Pick<ActorKind, 'type' | 'view'>[]): ActorReader {
  const kindOf = new Map(kinds.map((k) => [k.type, k]));
  const record = async (type: string, id: string): Promise<ActorRecord | undefined> => {
    const e = await kv.get(`${type}.${encodeId(id)}`);
    return e?.operation === 'PUT' ? (decode(e.value) as ActorRecord) : undefined;
  };
  const view = async (type: string, id: string) => {
    const kind = kindOf.get(type);
    const r = kind ? await record(type, id) : undefined;
    return r && kind ? kind.view(id, r.snapshot) : undefined;
  };
  return {
    record,
    view,
    async list(type, { limit, after }) {
      const ids: string[] = [];
      for await (const key of await kv.keys(`${type}.*`)) {
        const id = tryDecodeId(key.slice(type.length + 1));
        if (id !== undefined && (after === undefined || id > after)) ids.push(id);
      }
      ids.sort();
      const page = ids.slice(0, limit);
      const views = (await Promise.all(page.map((id) => view(type, id)))).filter((v): v is Record<string, unknown> => !!v);
      return ids.length > limit ? { views, next: page.at(-1)! } : { views };
    },
  };
}
