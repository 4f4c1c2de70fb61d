import { alarmMachine } from './alarm.machine.ts';
import { batchMachine } from './batch.machine.ts';
import { contextHandshakeMachine } from './context-handshake.machine.ts';
import { edgeLinkMachine } from './edge-link.machine.ts';
import { equipmentModuleMachine } from './equipment-module.machine.ts';
import { exceptionMachine } from './exception.machine.ts';
import { phaseMachine } from './phase.machine.ts';
import { unitMachine } from './unit.machine.ts';

/** Every machine definition by name, as served by `GET /machines` and `phaseline/machines` (CONTRACT.md §4). */
export const machines = {
  phase: phaseMachine,
  unit: unitMachine,
  alarm: alarmMachine,
  equipmentModule: equipmentModuleMachine,
  exception: exceptionMachine,
  batch: batchMachine,
  contextHandshake: contextHandshakeMachine,
  edgeLink: edgeLinkMachine,
} as const;

/** The name of one machine definition. */
export type MachineName = keyof typeof machines;

export {
  PHASE_COMMANDS,
  PHASE_MACHINE_VERSION,
  PHASE_STATES,
  allowedCommands,
  isIsa88Transition,
  isPhaseState,
  permissiveReasons,
  phaseMachine,
} from './phase.machine.ts';
export type {
  CommandRecord,
  PhaseCommand,
  PhaseCommandEvent,
  PhaseContext,
  PhaseEvent,
  PhaseExecution,
  PhaseInput,
  PhaseMeta,
  PhaseMode,
  PhasePermissives,
  PhaseRejectParams,
  PhaseState,
} from './phase.machine.ts';
export {
  CLEAN_HOLD_TIMER,
  DIRTY_HOLD_TIMER,
  STERILE_HOLD_TIMER,
  UNIT_MACHINE_VERSION,
  migrateUnitSnapshot,
  unitMachine,
} from './unit.machine.ts';
export type {
  Allocation,
  CleaningCycle,
  LineClearance,
  MaintenanceRecord,
  UnitContext,
  UnitContextAssertion,
  UnitEvent,
  UnitInput,
  UnitMeta,
  UnitRejectParams,
  UnitSnapshot,
  UnitStatus,
} from './unit.machine.ts';
export {
  ALARM_MACHINE_VERSION,
  ALARM_PROCESS_STATES,
  ISA18_STATE_NAMES,
  SHELVE_TIMER,
  SYSTEM_USER,
  alarmFlags,
  alarmMachine,
  alarmStateName,
} from './alarm.machine.ts';
export type {
  AlarmCommand,
  AlarmCommandParams,
  AlarmContext,
  AlarmEvent,
  AlarmFlags,
  AlarmInput,
  AlarmMeta,
  AlarmPriority,
  AlarmProcessState,
  AlarmRejectParams,
  AlarmReport,
  AlarmStamp,
  AlarmTransitionParams,
  Isa18Letter,
  Isa18StateName,
} from './alarm.machine.ts';
export {
  CALIBRATION_DUE_TIMER,
  EQUIPMENT_MODULE_MACHINE_VERSION,
  EQUIPMENT_MODULE_STATES,
  REPORTED_INTERLOCK_CAUSES,
  equipmentModuleMachine,
} from './equipment-module.machine.ts';
export type {
  EquipmentModuleContext,
  EquipmentModuleEvent,
  EquipmentModuleInput,
  EquipmentModuleState,
  InterlockCause,
} from './equipment-module.machine.ts';
export { EXCEPTION_MACHINE_VERSION, EXCEPTION_STATES, SIGNATURE_MEANINGS, exceptionMachine } from './exception.machine.ts';
export type {
  ExceptionContext,
  ExceptionEvent,
  ExceptionInput,
  ExceptionKind,
  ExceptionState,
  SignatureManifestation,
} from './exception.machine.ts';
export { BATCH_COMMANDS, BATCH_MACHINE_VERSION, BATCH_STATES, b2mmlResponseState, b2mmlState, batchMachine, startGateReasons } from './batch.machine.ts';
export type { BatchContext, BatchEvent, BatchInput, BatchState } from './batch.machine.ts';
export {
  ACK_DEADLINE_TIMER,
  CONTEXT_HANDSHAKE_MACHINE_VERSION,
  CONTEXT_HANDSHAKE_STATES,
  contextHandshakeMachine,
  mintContextId,
} from './context-handshake.machine.ts';
export type {
  AssertedContext,
  ContextHandshakeContext,
  ContextHandshakeEvent,
  ContextHandshakeInput,
  ContextHandshakeState,
  EdgeAck,
  SequenceGap,
} from './context-handshake.machine.ts';
export { EDGE_LINK_MACHINE_VERSION, EDGE_LINK_STATES, HEARTBEAT_TIMER, edgeLinkMachine, mergeRange, subtractRange } from './edge-link.machine.ts';
export type { EdgeLinkContext, EdgeLinkEvent, EdgeLinkInput, EdgeLinkState, SeqRange } from './edge-link.machine.ts';
