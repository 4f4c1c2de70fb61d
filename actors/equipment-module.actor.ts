import {
  EQUIPMENT_MODULE_MACHINE_VERSION, equipmentModuleMachine, type EquipmentModuleInput,
} from '../machines/equipment-module.machine.ts';
import { isoTimes } from './iso-time.ts';
import { auditOf, inputTo, machineKind } from './machine-kind.ts';

/** The equipment-module actor kind: interlocks reach the acquiring phase; a signed release is recorded (ISA-88 §5.2.5). */
export function equipmentModuleKind(actors: ReadonlyMap<string, EquipmentModuleInput>) {
  return machineKind({
    type: 'equipmentModule', machine: equipmentModuleMachine, version: EQUIPMENT_MODULE_MACHINE_VERSION, actors,
    stateName: (s) => String(s.value),
    view: (id, s) => isoTimes({ id, state: String(s.value), ...(s.context as Record<string, unknown>) }),
    effects: {
      notifyPhase: (p, info) => (p.phase
        ? { publish: [inputTo('phase', String(p.phase), info, { type: 'INTERLOCK', id: info.id, active: p.interlocked, causes: p.causes })] }
        : undefined),
      recordSignedRelease: (p, info) => auditOf('equipmentModule', 'interlock.released', info, p),
    },
  });
}
