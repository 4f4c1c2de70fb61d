/**
 * The ISA-88 unit and GMP equipment status requirements as data, written by hand from the issue text (ISA-88.01 §4.2,
 * §5.6 allocation; EU GMP Ch. 5.35 line clearance, Annex 1 §6 and Annex 15 §10 cleaning and hold times). The unit
 * machine is checked against this list and never derived from it.
 *
 * A state name is `<availability>/<equipment status>`, with `/LineCleared` (any batch) or `/LineCleared(B1)` (for
 * batch B1) on an available clean, sterilising or sterile unit whose line clearance holds; `-expired` marks a dirty
 * unit (or its running CIP) whose dirty-hold time ran out. In the situations below the unit is allocated to, and
 * line-cleared for, batch B1.
 */
export type UnitAvailabilityName = 'Available' | 'Allocated' | 'OutOfService';
export type UnitHygieneName = 'Dirty' | 'Dirty-expired' | 'Cleaning' | 'Cleaning-expired' | 'Clean' | 'Sterilising' | 'Sterile';
export type UnitStateName =
  | `${UnitAvailabilityName}/${UnitHygieneName}`
  | `Available/${'Clean' | 'Sterilising' | 'Sterile'}/${'LineCleared' | 'LineCleared(B1)'}`;

/** Short event names; `CREATE` is the genuine first start, the others are inputs. */
export type UnitEventName =
  | 'CREATE' | 'ALLOCATE' | 'ASSERT_CONTEXT' | 'RELEASE' | 'LINE_CLEARANCE' | 'CIP_START' | 'CIP_COMPLETE'
  | 'SIP_START' | 'SIP_COMPLETE' | 'MAINTENANCE_START' | 'MAINTENANCE_END' | 'MARK_DIRTY' | 'TIMER' | 'UNKNOWN';

/**
 * Named situations the tests turn into inputs. Absent: a complete, valid input for batch B1 (the MES context with the
 * next sequence number; a CIP/SIP result that passed; a line clearance for any batch; maintenance with a reason).
 */
export type UnitGiven =
  | 'other_batch' | 'stale_seq' | 'invalid_seq' | 'for_batch' | 'with_deviation' | 'failed' | 'no_reason'
  | 'clean_hold_due' | 'clean_hold_not_due' | 'sterile_hold_due' | 'sterile_hold_not_due'
  | 'dirty_hold_due' | 'dirty_hold_not_due' | 'unknown_timer';

export interface UnitTransition {
  from: UnitStateName | 'Start';
  event: UnitEventName;
  to: UnitStateName | `reject:${string}`;
  /** The equipment requirement: only sterile (true) or clean or sterile (false); absent: either. */
  sterileRequired?: boolean;
  given?: UnitGiven;
  /** The effects expected, in order; rejections always emit exactly one `reject`. */
  emits?: string[];
}

export interface UnitRequirement { id: string; text: string; transitions: UnitTransition[] }

const LC = ['', '/LineCleared', '/LineCleared(B1)'] as const;
const av = (h: 'Clean' | 'Sterilising' | 'Sterile') => LC.map((l) => `Available/${h}${l}` as UnitStateName);
const CLEAN_AV = av('Clean');
const STERILISING_AV = av('Sterilising');
const STERILE_AV = av('Sterile');
const CLEARED = (h: 'Clean' | 'Sterile') => av(h).slice(1);
const DIRTY_AV: UnitStateName[] = ['Available/Dirty', 'Available/Dirty-expired'];
const CLEANING_AV: UnitStateName[] = ['Available/Cleaning', 'Available/Cleaning-expired'];
const BUSY_AV = [...CLEANING_AV, ...STERILISING_AV];
const AVAILABLE = [...DIRTY_AV, ...CLEANING_AV, ...CLEAN_AV, ...STERILISING_AV, ...STERILE_AV];
const ALLOCATED: UnitStateName[] = ['Allocated/Dirty', 'Allocated/Dirty-expired', 'Allocated/Clean', 'Allocated/Sterile'];
const OUT_OF_SERVICE: UnitStateName[] = ['OutOfService/Dirty', 'OutOfService/Dirty-expired'];
const ALL = [...AVAILABLE, ...ALLOCATED, ...OUT_OF_SERVICE];
const DIRTY_ANY = [...DIRTY_AV, 'Allocated/Dirty', 'Allocated/Dirty-expired', ...OUT_OF_SERVICE] as UnitStateName[];

const rows = (states: UnitStateName[], event: UnitEventName, to: UnitTransition['to'], extra: Partial<UnitTransition> = {}): UnitTransition[] =>
  states.map((from) => ({ from, event, to, ...extra }));
const both = (states: UnitStateName[], to: UnitTransition['to'], extra: Partial<UnitTransition> = {}): UnitTransition[] =>
  [...rows(states, 'ALLOCATE', to, extra), ...rows(states, 'ASSERT_CONTEXT', to, extra)];

/** The deadline each state has running: its due input moves the unit on, an early one is refused. */
const RUNNING: { timer: 'clean_hold' | 'sterile_hold' | 'dirty_hold'; states: UnitStateName[] }[] = [
  { timer: 'clean_hold', states: [...CLEAN_AV, 'Allocated/Clean'] },
  { timer: 'sterile_hold', states: [...STERILE_AV, 'Allocated/Sterile'] },
  { timer: 'dirty_hold', states: ['Available/Dirty', 'Allocated/Dirty', 'OutOfService/Dirty'] },
];

export const UNIT_REQUIREMENTS: UnitRequirement[] = [
  {
    id: 'URS-UNIT-001',
    text: 'On a genuine first start the unit is available and clean, its clean-hold time running from its creation; having never held a batch, nothing of one can be left on its line, so it counts as line-cleared.',
    transitions: [{ from: 'Start', event: 'CREATE', to: 'Available/Clean/LineCleared' }],
  },
  {
    id: 'URS-UNIT-002',
    text: 'An available unit is allocated (ALLOCATE, by a named user) to one batch at a time; the phases of the unit are told it is allocated. An allocated unit is not allocated again.',
    transitions: [
      ...rows(CLEARED('Clean'), 'ALLOCATE', 'Allocated/Clean', { sterileRequired: false, emits: ['recordAllocation', 'notifyPhases'] }),
      ...rows(CLEARED('Sterile'), 'ALLOCATE', 'Allocated/Sterile', { emits: ['recordAllocation', 'notifyPhases'] }),
      ...rows(ALLOCATED, 'ALLOCATE', 'reject:unit_in_use'),
    ],
  },
  {
    id: 'URS-UNIT-003',
    text: 'A unit is allocated to a batch — by ALLOCATE or by the MES asserting context on it — only when it is clean or sterile, and not while a CIP or SIP cycle runs.',
    transitions: [...both(DIRTY_AV, 'reject:not_clean'), ...both(BUSY_AV, 'reject:cleaning_in_progress')],
  },
  {
    id: 'URS-UNIT-004',
    text: 'Equipment that requires sterility is allocated only when sterile; clean is not enough.',
    transitions: both(CLEAN_AV, 'reject:not_sterile', { sterileRequired: true }),
  },
  {
    id: 'URS-UNIT-005',
    text: 'Line clearance comes before allocation: without a line clearance that holds, allocation is refused; a line clearance for another batch does not count.',
    transitions: [
      ...both(['Available/Clean'], 'reject:line_clearance_required', { sterileRequired: false }),
      ...both(['Available/Sterile'], 'reject:line_clearance_required'),
      ...both(['Available/Clean/LineCleared(B1)'], 'reject:line_clearance_batch_mismatch', { sterileRequired: false, given: 'other_batch' }),
      ...both(['Available/Sterile/LineCleared(B1)'], 'reject:line_clearance_batch_mismatch', { given: 'other_batch' }),
    ],
  },
  {
    id: 'URS-UNIT-006',
    text: 'A line clearance of an available clean or sterile unit is recorded with who performed it, when, and optionally the batch it is for; it is refused on a dirty unit, during CIP or SIP, on an allocated unit and on a unit out of service.',
    transitions: [
      ...[...CLEAN_AV, ...STERILE_AV].flatMap((from): UnitTransition[] => {
        const base = from.split('/').slice(0, 2).join('/');
        return [
          { from, event: 'LINE_CLEARANCE', to: `${base}/LineCleared` as UnitStateName, emits: ['recordLineClearance'] },
          { from, event: 'LINE_CLEARANCE', given: 'for_batch', to: `${base}/LineCleared(B1)` as UnitStateName, emits: ['recordLineClearance'] },
        ];
      }),
      ...rows(DIRTY_AV, 'LINE_CLEARANCE', 'reject:not_clean'),
      ...rows(BUSY_AV, 'LINE_CLEARANCE', 'reject:cleaning_in_progress'),
      ...rows(ALLOCATED, 'LINE_CLEARANCE', 'reject:unit_in_use'),
      ...rows(OUT_OF_SERVICE, 'LINE_CLEARANCE', 'reject:unit_out_of_service'),
    ],
  },
  {
    id: 'URS-UNIT-007',
    text: 'A unit out of service (maintenance) is not allocated, neither by ALLOCATE nor by an MES context assertion.',
    transitions: both(OUT_OF_SERVICE, 'reject:unit_out_of_service'),
  },
  {
    id: 'URS-UNIT-008',
    text: 'At batch end the batch releases the unit: it is available again and dirty (used equipment), its context cleared, and its phases are told. Only the batch holding the unit releases it; an unallocated unit is not released.',
    transitions: [
      ...rows(['Allocated/Clean', 'Allocated/Sterile', 'Allocated/Dirty'], 'RELEASE', 'Available/Dirty', { emits: ['notifyPhases'] }),
      { from: 'Allocated/Dirty-expired', event: 'RELEASE', to: 'Available/Dirty-expired', emits: ['notifyPhases'] },
      ...rows(ALLOCATED, 'RELEASE', 'reject:batch_mismatch', { given: 'other_batch' }),
      ...rows([...AVAILABLE, ...OUT_OF_SERVICE], 'RELEASE', 'reject:not_allocated'),
    ],
  },
  {
    id: 'URS-UNIT-009',
    text: 'The MES asserts context with a sequence number: a positive integer, above the last accepted one (else refused as invalid or stale). It is accepted for the batch that holds the unit and refused for another; on an available unit that may be allocated, the assertion allocates it to its batch (URS-UNIT-003 to -007 apply).',
    transitions: [
      ...rows(ALL, 'ASSERT_CONTEXT', 'reject:invalid_sequence', { given: 'invalid_seq' }),
      ...rows(ALL, 'ASSERT_CONTEXT', 'reject:stale_sequence', { given: 'stale_seq' }),
      ...ALLOCATED.map((from): UnitTransition => ({ from, event: 'ASSERT_CONTEXT', to: from, emits: ['contextAccepted', 'notifyPhases'] })),
      ...rows(ALLOCATED, 'ASSERT_CONTEXT', 'reject:unit_in_use', { given: 'other_batch' }),
      ...rows(CLEARED('Clean'), 'ASSERT_CONTEXT', 'Allocated/Clean', { sterileRequired: false, emits: ['contextAccepted', 'recordAllocation', 'notifyPhases'] }),
      ...rows(CLEARED('Sterile'), 'ASSERT_CONTEXT', 'Allocated/Sterile', { emits: ['contextAccepted', 'recordAllocation', 'notifyPhases'] }),
    ],
  },
  {
    id: 'URS-UNIT-010',
    text: 'CIP starts only on a dirty unit that is available (not allocated, not in maintenance); after the dirty-hold time it starts only with a deviation reference. A clean or sterile unit is not cleaned again, and a running CIP or SIP is not interrupted.',
    transitions: [
      { from: 'Available/Dirty', event: 'CIP_START', to: 'Available/Cleaning', emits: ['recordCycle'] },
      { from: 'Available/Dirty', event: 'CIP_START', given: 'with_deviation', to: 'Available/Cleaning', emits: ['recordCycle'] },
      { from: 'Available/Dirty-expired', event: 'CIP_START', given: 'with_deviation', to: 'Available/Cleaning-expired', emits: ['recordCycle'] },
      ...rows([...CLEAN_AV, ...STERILE_AV, 'Allocated/Clean', 'Allocated/Sterile'], 'CIP_START', 'reject:not_dirty'),
      ...rows(BUSY_AV, 'CIP_START', 'reject:cleaning_in_progress'),
      ...rows(['Allocated/Dirty', 'Allocated/Dirty-expired'], 'CIP_START', 'reject:unit_in_use'),
      ...rows(OUT_OF_SERVICE, 'CIP_START', 'reject:unit_out_of_service'),
    ],
  },
  {
    id: 'URS-UNIT-011',
    text: 'A dirty unit has a dirty-hold time: when it runs out the unit stays dirty and is flagged, and cleaning it then needs a deviation reference.',
    transitions: [
      { from: 'Available/Dirty', event: 'TIMER', given: 'dirty_hold_due', to: 'Available/Dirty-expired' },
      { from: 'Allocated/Dirty', event: 'TIMER', given: 'dirty_hold_due', to: 'Allocated/Dirty-expired' },
      { from: 'OutOfService/Dirty', event: 'TIMER', given: 'dirty_hold_due', to: 'OutOfService/Dirty-expired' },
      { from: 'Available/Dirty-expired', event: 'CIP_START', to: 'reject:deviation_required' },
    ],
  },
  {
    id: 'URS-UNIT-012',
    text: 'The control system reports the CIP result: passed, the unit is clean and its clean-hold time starts (phases told); failed, it stays dirty with its dirty-hold time running on. A result without a running CIP is refused.',
    transitions: [
      { from: 'Available/Cleaning', event: 'CIP_COMPLETE', to: 'Available/Clean', emits: ['recordCycle', 'notifyPhases'] },
      { from: 'Available/Cleaning-expired', event: 'CIP_COMPLETE', to: 'Available/Clean', emits: ['recordCycle', 'notifyPhases'] },
      { from: 'Available/Cleaning', event: 'CIP_COMPLETE', given: 'failed', to: 'Available/Dirty', emits: ['recordCycle'] },
      { from: 'Available/Cleaning-expired', event: 'CIP_COMPLETE', given: 'failed', to: 'Available/Dirty-expired', emits: ['recordCycle'] },
      ...rows(ALL.filter((s) => !CLEANING_AV.includes(s)), 'CIP_COMPLETE', 'reject:not_cleaning'),
    ],
  },
  {
    id: 'URS-UNIT-013',
    text: 'SIP starts only on an available clean unit (phases told it is no longer clean for use); a dirty unit is cleaned first, a sterile one is not sterilised again, an allocated one is not sterilised, and a running CIP or SIP is not interrupted.',
    transitions: [
      ...CLEAN_AV.map((from): UnitTransition => ({ from, event: 'SIP_START', to: from.replace('Clean', 'Sterilising') as UnitStateName, emits: ['recordCycle', 'notifyPhases'] })),
      ...rows(DIRTY_ANY, 'SIP_START', 'reject:not_clean'),
      ...rows(BUSY_AV, 'SIP_START', 'reject:cleaning_in_progress'),
      ...rows([...STERILE_AV, 'Allocated/Sterile'], 'SIP_START', 'reject:already_sterile'),
      { from: 'Allocated/Clean', event: 'SIP_START', to: 'reject:unit_in_use' },
    ],
  },
  {
    id: 'URS-UNIT-014',
    text: 'The control system reports the SIP result: passed, the unit is sterile until its sterile-hold time runs out (phases told); failed, it is dirty. A result without a running SIP is refused.',
    transitions: [
      ...STERILISING_AV.map((from): UnitTransition => ({ from, event: 'SIP_COMPLETE', to: from.replace('Sterilising', 'Sterile') as UnitStateName, emits: ['recordCycle', 'notifyPhases'] })),
      ...rows(STERILISING_AV, 'SIP_COMPLETE', 'Available/Dirty', { given: 'failed', emits: ['recordCycle'] }),
      ...rows(ALL.filter((s) => !STERILISING_AV.includes(s)), 'SIP_COMPLETE', 'reject:not_sterilising'),
    ],
  },
  {
    id: 'URS-UNIT-015',
    text: 'When the clean-hold time runs out a clean unit is dirty again, allocated or not; its line clearance no longer holds and its phases are told.',
    transitions: [
      ...rows(CLEAN_AV, 'TIMER', 'Available/Dirty', { given: 'clean_hold_due', emits: ['notifyPhases'] }),
      { from: 'Allocated/Clean', event: 'TIMER', given: 'clean_hold_due', to: 'Allocated/Dirty', emits: ['notifyPhases'] },
    ],
  },
  {
    id: 'URS-UNIT-016',
    text: 'When the sterile-hold time runs out a sterile unit is dirty: it is cleaned and sterilised again (the time since its CIP is not assumed clean); its line clearance no longer holds and its phases are told.',
    transitions: [
      ...rows(STERILE_AV, 'TIMER', 'Available/Dirty', { given: 'sterile_hold_due', emits: ['notifyPhases'] }),
      { from: 'Allocated/Sterile', event: 'TIMER', given: 'sterile_hold_due', to: 'Allocated/Dirty', emits: ['notifyPhases'] },
    ],
  },
  {
    id: 'URS-UNIT-017',
    text: 'A hold-time input before its deadline, for a hold time that is not running, or naming no hold time is refused and changes nothing.',
    transitions: [
      ...RUNNING.flatMap(({ timer, states }) => rows(states, 'TIMER', 'reject:timer_not_due', { given: `${timer}_not_due` as UnitGiven })),
      ...RUNNING.flatMap(({ timer, states }) =>
        rows(ALL.filter((s) => !states.includes(s)), 'TIMER', 'reject:timer_stale', { given: `${timer}_due` as UnitGiven })),
      ...rows(ALL, 'TIMER', 'reject:unknown_timer', { given: 'unknown_timer' }),
    ],
  },
  {
    id: 'URS-UNIT-018',
    text: 'Maintenance (MAINTENANCE_START, with a reason and by a named user) takes an available unit out of service; it is then no longer clean and its line clearance no longer holds. It is refused without a reason, on an allocated unit, during CIP or SIP, and on a unit already out of service.',
    transitions: [
      ...rows([...CLEAN_AV, ...STERILE_AV], 'MAINTENANCE_START', 'OutOfService/Dirty', { emits: ['recordMaintenance', 'notifyPhases'] }),
      { from: 'Available/Dirty', event: 'MAINTENANCE_START', to: 'OutOfService/Dirty', emits: ['recordMaintenance'] },
      { from: 'Available/Dirty-expired', event: 'MAINTENANCE_START', to: 'OutOfService/Dirty-expired', emits: ['recordMaintenance'] },
      ...rows(AVAILABLE, 'MAINTENANCE_START', 'reject:reason_required', { given: 'no_reason' }),
      ...rows(BUSY_AV, 'MAINTENANCE_START', 'reject:cleaning_in_progress'),
      ...rows(ALLOCATED, 'MAINTENANCE_START', 'reject:unit_in_use'),
      ...rows(OUT_OF_SERVICE, 'MAINTENANCE_START', 'reject:unit_out_of_service'),
    ],
  },
  {
    id: 'URS-UNIT-019',
    text: 'The end of maintenance (MAINTENANCE_END, by a named user) makes the unit available and dirty: it needs cleaning after maintenance. A unit not in maintenance cannot end it.',
    transitions: [
      { from: 'OutOfService/Dirty', event: 'MAINTENANCE_END', to: 'Available/Dirty', emits: ['recordMaintenance'] },
      { from: 'OutOfService/Dirty-expired', event: 'MAINTENANCE_END', to: 'Available/Dirty-expired', emits: ['recordMaintenance'] },
      ...rows([...AVAILABLE, ...ALLOCATED], 'MAINTENANCE_END', 'reject:not_in_maintenance'),
    ],
  },
  {
    id: 'URS-UNIT-020',
    text: 'A clean or sterile unit can be marked dirty (allocated or not): its line clearance no longer holds and its phases are told. A dirty unit stays dirty with its dirty-hold time running on; during CIP or SIP the control system reports the result instead.',
    transitions: [
      ...rows([...CLEAN_AV, ...STERILE_AV], 'MARK_DIRTY', 'Available/Dirty', { emits: ['notifyPhases'] }),
      ...rows(['Allocated/Clean', 'Allocated/Sterile'], 'MARK_DIRTY', 'Allocated/Dirty', { emits: ['notifyPhases'] }),
      ...DIRTY_ANY.map((from): UnitTransition => ({ from, event: 'MARK_DIRTY', to: from, emits: [] })),
      ...rows(BUSY_AV, 'MARK_DIRTY', 'reject:cleaning_in_progress'),
    ],
  },
  {
    id: 'URS-UNIT-021',
    text: 'An unknown input is refused with a reason and changes nothing.',
    transitions: rows(ALL, 'UNKNOWN', 'reject:unknown_event'),
  },
];
