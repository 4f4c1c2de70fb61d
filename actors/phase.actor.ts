import { allowedCommands, phaseMachine, PHASE_MACHINE_VERSION, type PhaseContext, type PhaseInput, type PhaseState } from '../machines/phase.machine.ts';
import type { EdgeCommand } from '../nats/command.schema.ts';
import { subjects } from '../nats/subjects.ts';
import { isoTimes } from './iso-time.ts';
import type { ActionResult, ActorKind, ApplyInfo, PersistedState } from './kind.ts';

/** Codes the phase kind adds to its machine's: a command the allowlist does not carry (DESIGN.md principle 10). */
export const PHASE_KIND_REJECTIONS = ['command_not_allowlisted'] as const;

export interface PhaseKindOptions {
  phases: PhaseInput[];
  /** Expiry of a control-system write for (source, tag), from the command allowlist. */
  commandExpiryMs: (source: string, tag: string) => number | undefined;
}

/** The phase actor kind: ISA-88 procedural element, its PLC writes and its public view (ISA-88.01 §5.7). */
export function phaseKind(o: PhaseKindOptions): ActorKind<ReturnType<typeof phaseView>> {
  return {
    type: 'phase',
    machine: phaseMachine,
    version: PHASE_MACHINE_VERSION,
    actors: new Map(o.phases.map((p) => [p.id, p])),
    stateName: (s) => String(s.value),
    view: (id, s) => phaseView(id, s),
    interpret: (action, info) => interpret(o, action, info),
  };
}

/** The CONTRACT.md §2 shape of `GET /phases/:id`, times ISO 8601 (ALCOA+ "contemporaneous"). */
export function phaseView(id: string, s: PersistedState) {
  const c = s.context as unknown as PhaseContext;
  const state = String(s.value) as PhaseState;
  return isoTimes({
    id,
    unit: c.unit,
    state,
    execution: c.execution,
    mode: c.mode,
    context: {
      contextId: c.permissives.contextId ?? null,
      batchId: c.permissives.batchId ?? null,
      unitClean: c.permissives.unitClean,
      unitAllocated: c.permissives.unitAllocated,
      interlocks: c.permissives.interlocks,
      unsignedCriticalExceptions: c.permissives.unsignedCriticalExceptions,
    },
    allowedCommands: allowedCommands(state).map((x) => x.toLowerCase()),
    ...(c.pendingCommand ? { pendingCommand: { ...c.pendingCommand, command: c.pendingCommand.command.toLowerCase() } } : {}),
  });
}

function interpret(o: PhaseKindOptions, action: { type: string; params?: unknown }, info: ApplyInfo): ActionResult | undefined {
  const p = (action.params ?? {}) as Record<string, unknown>;
  const target = `phase:${info.id}`;
  switch (action.type) {
    case 'reject': {
      const { code, message, ...details } = p as { code: string; message: string; allowed?: unknown };
      const extra = code === 'command_not_allowed' && Array.isArray(details.allowed)
        ? { allowed: (details.allowed as string[]).map((c) => c.toLowerCase()) } : {};
      return { rejection: { code, message, state: String(info.before.value), ...details, ...extra } };
    }
    case 'writePlc': {
      const source = String(p.source);
      const tag = String(p.tag);
      const expiry = o.commandExpiryMs(source, tag);
      if (expiry === undefined) {
        return { rejection: { code: 'command_not_allowlisted', message: `${tag} on ${source} is not on the command allowlist` } };
      }
      const command: EdgeCommand = {
        id: `${info.id}:${info.seq}`, tag, value: p.value as EdgeCommand['value'], by: info.event.by ?? 'system',
        roles: Array.isArray(info.event.roles) ? (info.event.roles as unknown[]).map(String) : [],
        issuedAt: info.event.at, expiresAt: info.event.at + expiry, ref: `inbox:${info.seq}`,
      };
      return {
        publish: [{ subject: subjects.command(source), payload: command }],
        audit: [{ who: command.by, action: 'plc.write.requested', target, after: { source, tag, value: p.value, expiresAt: command.expiresAt } }],
      };
    }
    case 'annotate':
      return { audit: [{ who: info.event.by ?? 'system', action: `phase.annotation.${String(p.code)}`, target, after: p }] };
    default:
      return undefined;
  }
}
