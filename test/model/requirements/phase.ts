/**
 * The phase requirements beyond the ISA-88 state table (isa88-phase.ts): how a phase is gated, how it reaches the
 * control system, and what it refuses. Written by hand from CONTRACT.md (`POST /phases/:id/commands`, permissives)
 * and the issue text; the phase machine is checked against this list and never derived from it.
 */
import { ISA88_COMMANDS, ISA88_MATRIX, ISA88_STATES, type Isa88Command, type Isa88State } from './isa88-phase.ts';

/** How the phase is executed: by hand (manual), by the control system (automatic), or automatic but not wired. */
export type PhaseVariant = 'manual' | 'automatic' | 'automatic-unconfigured';

/** Situations: a permissive fails (no context, unit not clean or allocated, an interlock, an unsigned critical exception). */
export type PhaseGiven = 'permissive_failing' | 'wrong_from' | 'unknown_state' | 'bad_mode' | 'interlock_on' | 'interlock_off' | 'exception_open' | 'exception_signed' | 'unit_ready' | 'unit_not_ready';

export interface PhaseRow {
  from: Isa88State;
  /** An ISA-88 command, `SC` (state complete), or another input. */
  event: Isa88Command | 'SC' | 'PLC_STATE' | 'UNIT_STATUS' | 'INTERLOCK' | 'CRITICAL_EXCEPTION' | 'SET_MODE' | 'UNKNOWN';
  to: Isa88State | `reject:${string}`;
  given?: PhaseGiven;
  /** For PLC_STATE: the state the control system reports. */
  reports?: Isa88State;
  variants?: PhaseVariant[];
}

export interface PhaseRequirement { id: string; text: string; transitions: PhaseRow[] }

const GATED: Isa88Command[] = ['START', 'RESTART', 'RESUME'];
const TRANSIENT = ISA88_STATES.filter((s) => ISA88_MATRIX[s].SC);
const cells = (f: (from: Isa88State, command: Isa88Command, to: Isa88State) => PhaseRow[]) =>
  ISA88_STATES.flatMap((from) => ISA88_COMMANDS.flatMap((c) => (ISA88_MATRIX[from][c] ? f(from, c, ISA88_MATRIX[from][c]!) : [])));

export const PHASE_REQUIREMENTS: PhaseRequirement[] = [
  {
    id: 'ISA-88 §1.3',
    text: 'A manual phase moves as the ISA-88 state table says: each valid (state, command) cell and each state complete of a transient state leads to the table\'s target (STANDARDS.md §1.3).',
    transitions: [
      ...cells((from, event, to) => [{ from, event, to, variants: ['manual'] }]),
      ...TRANSIENT.map((from): PhaseRow => ({ from, event: 'SC', to: ISA88_MATRIX[from].SC!, variants: ['manual'] })),
    ],
  },
  {
    id: 'URS-PHASE-001',
    text: 'A command absent from the ISA-88 table for the current state is refused (command_not_allowed) and changes nothing, for every kind of phase and whatever the permissives.',
    transitions: ISA88_STATES.flatMap((from) => ISA88_COMMANDS.filter((c) => !ISA88_MATRIX[from][c]).flatMap((event): PhaseRow[] => [
      { from, event, to: 'reject:command_not_allowed' },
      { from, event, to: 'reject:command_not_allowed', given: 'permissive_failing' },
    ])),
  },
  {
    id: 'URS-PHASE-002',
    text: 'Start, restart and resume are refused (permissive_failed, with the reasons) while a permissive fails: no context asserted, unit not clean, unit not allocated, an active interlock, or an unsigned critical exception. Hold, stop and abort are never refused for a permissive.',
    transitions: [
      ...cells((from, event) => (GATED.includes(event) ? [{ from, event, to: 'reject:permissive_failed', given: 'permissive_failing' }] : [])),
      ...cells((from, event, to) => (GATED.includes(event) ? [] : [
        { from, event, to, given: 'permissive_failing', variants: ['manual'] },
        { from, event, to: from, given: 'permissive_failing', variants: ['automatic'] },
        { from, event, to: 'reject:plc_not_configured', given: 'permissive_failing', variants: ['automatic-unconfigured'] },
      ])),
    ],
  },
  {
    id: 'URS-PHASE-003',
    text: 'A valid command to an automatic phase is written to the control system and the phase stays where it is until the control system reports its new state.',
    transitions: cells((from, event) => [{ from, event, to: from, variants: ['automatic'] }]),
  },
  {
    id: 'URS-PHASE-004',
    text: 'A valid command to an automatic phase without a configured command source and tag is refused (plc_not_configured).',
    transitions: cells((from, event) => [{ from, event, to: 'reject:plc_not_configured', variants: ['automatic-unconfigured'] }]),
  },
  {
    id: 'URS-PHASE-005',
    text: 'An automatic phase follows every ISA-88 state its control system reports; a report that is not an ISA-88 state is refused (invalid_state); a manual phase refuses control-system reports (manual_phase).',
    transitions: ISA88_STATES.flatMap((from): PhaseRow[] => [
      ...ISA88_STATES.map((reports): PhaseRow => ({ from, event: 'PLC_STATE', reports, to: reports, variants: ['automatic', 'automatic-unconfigured'] })),
      { from, event: 'PLC_STATE', given: 'unknown_state', to: 'reject:invalid_state', variants: ['automatic', 'automatic-unconfigured'] },
      { from, event: 'PLC_STATE', to: 'reject:manual_phase', variants: ['manual'] },
    ]),
  },
  {
    id: 'URS-PHASE-006',
    text: 'State complete is reported by people only for a manual phase and only for the transient state it names; an automatic phase refuses it (automatic_phase), a stale report naming another state is refused (state_changed), and a non-transient state has nothing to complete (not_transient).',
    transitions: ISA88_STATES.flatMap((from): PhaseRow[] => [
      { from, event: 'SC', to: 'reject:automatic_phase', variants: ['automatic', 'automatic-unconfigured'] },
      ...(TRANSIENT.includes(from)
        ? [{ from, event: 'SC' as const, given: 'wrong_from' as const, to: 'reject:state_changed' as const, variants: ['manual' as const] }]
        : [{ from, event: 'SC' as const, to: 'reject:not_transient' as const, variants: ['manual' as const] }]),
    ]),
  },
  {
    id: 'URS-PHASE-007',
    text: 'The unit\'s status (context, clean, allocated), interlocks and critical exceptions are kept for the permissives in every state without changing the state.',
    transitions: ISA88_STATES.flatMap((from): PhaseRow[] => [
      { from, event: 'UNIT_STATUS', given: 'unit_ready', to: from },
      { from, event: 'UNIT_STATUS', given: 'unit_not_ready', to: from },
      { from, event: 'INTERLOCK', given: 'interlock_on', to: from },
      { from, event: 'INTERLOCK', given: 'interlock_off', to: from },
      { from, event: 'CRITICAL_EXCEPTION', given: 'exception_open', to: from },
      { from, event: 'CRITICAL_EXCEPTION', given: 'exception_signed', to: from },
    ]),
  },
  {
    id: 'URS-PHASE-008',
    text: 'The operating mode is Automatic, Semi-automatic or Manual (ISA-88 §5.7.1); any other mode is refused (invalid_mode); a mode change never changes the procedural state.',
    transitions: ISA88_STATES.flatMap((from): PhaseRow[] => [
      { from, event: 'SET_MODE', to: from },
      { from, event: 'SET_MODE', given: 'bad_mode', to: 'reject:invalid_mode' },
    ]),
  },
  {
    id: 'URS-PHASE-009',
    text: 'An unknown input is refused with a reason (unknown_event) and changes nothing.',
    transitions: ISA88_STATES.map((from): PhaseRow => ({ from, event: 'UNKNOWN', to: 'reject:unknown_event' })),
  },
];
