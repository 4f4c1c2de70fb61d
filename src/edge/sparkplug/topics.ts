/** The Sparkplug B namespace element (Sparkplug B 3.0 ch. 4 Topic Namespace Elements). */
export const NAMESPACE = 'spBv1.0';

/** Message types of an edge node and its devices (Sparkplug B 3.0 ch. 4 message_type). */
export type MessageType = 'NBIRTH' | 'NDEATH' | 'DBIRTH' | 'DDEATH' | 'NDATA' | 'DDATA' | 'NCMD' | 'DCMD';
const TYPES = new Set<string>(['NBIRTH', 'NDEATH', 'DBIRTH', 'DDEATH', 'NDATA', 'DDATA', 'NCMD', 'DCMD']);

/** A parsed edge-node topic `spBv1.0/<group>/<type>/<node>[/<device>]`. */
export interface EdgeTopic {
  group: string;
  type: MessageType;
  node: string;
  device?: string;
}

/** Parses an edge topic (Sparkplug B 3.0 ch. 4 Topic Namespace Elements); undefined for anything else (STATE, foreign or malformed topics). */
export function parseTopic(topic: string): EdgeTopic | undefined {
  const parts = topic.split('/');
  if (parts[0] !== NAMESPACE || parts.length < 4 || parts.length > 5) return undefined;
  const [, group, type, node, device] = parts as [string, string, string, string, string | undefined];
  if (!group || !node || !TYPES.has(type) || device === '') return undefined;
  const isDevice = type.startsWith('D');
  if (isDevice !== (device !== undefined)) return undefined;
  return { group, type: type as MessageType, node, ...(device !== undefined ? { device } : {}) };
}

/** The topic of an edge message (Sparkplug B 3.0 ch. 4 Topic Namespace Elements). */
export function edgeTopic(group: string, type: MessageType, node: string, device?: string): string {
  return [NAMESPACE, group, type, node, ...(device !== undefined ? [device] : [])].join('/');
}

/** The retained host state topic `spBv1.0/STATE/<host_id>` (Sparkplug B 3.0 ch. 4 Sparkplug Host Application, STATE). */
export function stateTopic(hostId: string): string {
  return `${NAMESPACE}/STATE/${hostId}`;
}

/** The host state payload: UTF-8 JSON `{ online, timestamp }` (Sparkplug B 3.0 ch. 4 Birth / Death Message STATE). */
export interface HostState {
  online: boolean;
  timestamp: number;
}

/** Encodes a host state payload. */
export function encodeState(s: HostState): Buffer {
  return Buffer.from(JSON.stringify({ online: s.online, timestamp: s.timestamp }));
}

/** Decodes a host state payload; undefined when it is not the 3.0 JSON form. */
export function decodeState(data: Uint8Array): HostState | undefined {
  try {
    const v = JSON.parse(Buffer.from(data).toString('utf8')) as Partial<HostState>;
    return typeof v.online === 'boolean' && typeof v.timestamp === 'number' ? { online: v.online, timestamp: v.timestamp } : undefined;
  } catch {
    return undefined;
  }
}
