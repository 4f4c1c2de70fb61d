import type { AnyStateMachine } from 'xstate';
import * as registry from '../../machines/index.ts';
import { PhaselineError } from '../errors.ts';
import { toMermaid } from './mermaid.ts';
import { machineModel, type MachineModel } from './model.ts';
import { toScxml } from './scxml.ts';
import { toSvg } from './svg.ts';

/** The formats a diagram is rendered in (CONTRACT.md `GET /machines/:name/diagram`). */
export const DIAGRAM_FORMATS = ['mermaid', 'scxml', 'svg', 'json'] as const;

/** One diagram format. */
export type DiagramFormat = (typeof DIAGRAM_FORMATS)[number];

/** A rendered diagram: its media type and text. */
export interface RenderedDiagram {
  contentType: string;
  body: string;
}

/** A machine in `GET /machines`: counts of its states and transitions (CONTRACT.md §2). */
export interface MachineListEntry {
  name: string;
  version: number | string;
  states: number;
  transitions: number;
}

const CONTENT_TYPES: Record<DiagramFormat, string> = {
  mermaid: 'text/vnd.mermaid; charset=utf-8',
  scxml: 'application/scxml+xml; charset=utf-8',
  svg: 'image/svg+xml; charset=utf-8',
  json: 'application/json; charset=utf-8',
};

const definitions = registry.machines as Record<string, AnyStateMachine>;
const models = new Map<string, MachineModel>();

/** `equipmentModule` → `EQUIPMENT_MODULE_MACHINE_VERSION`, the constant every machine file exports with its version. */
function versionOf(name: string, machine: AnyStateMachine): number | string {
  const constant = `${name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]+/g, '_').toUpperCase()}_MACHINE_VERSION`;
  const value = (registry as Record<string, unknown>)[constant];
  if (typeof value === 'number' || typeof value === 'string') return value;
  return machine.version ?? 'unversioned';
}

/** The names of every machine definition, in registry order. */
export function machineNames(): string[] {
  return Object.keys(definitions);
}

/** The plain model of one machine (cached: definitions are immutable), or undefined for an unknown name. */
export function findMachineModel(name: string): MachineModel | undefined {
  if (!Object.hasOwn(definitions, name)) return undefined;
  let model = models.get(name);
  if (!model) {
    const machine = definitions[name]!;
    model = machineModel(name, versionOf(name, machine), machine);
    models.set(name, model);
  }
  return model;
}

/** The plain model of one machine; throws `ERR_HTTP_NOT_FOUND` for an unknown name. */
export function getMachineModel(name: string): MachineModel {
  const model = findMachineModel(name);
  if (!model) {
    throw new PhaselineError('ERR_HTTP_NOT_FOUND', `no machine named ${JSON.stringify(name)}; known: ${machineNames().join(', ')}`,
      { machine: name });
  }
  return model;
}

/** Every machine with its version and the counts of its states and transitions (CONTRACT.md `GET /machines`). */
export function machineList(): MachineListEntry[] {
  return machineNames().map((name) => {
    const m = getMachineModel(name);
    return { name, version: m.version, states: m.states.length, transitions: m.transitions.length };
  });
}

/** True when `format` names a diagram format this build renders. */
export function isDiagramFormat(format: string): format is DiagramFormat {
  return (DIAGRAM_FORMATS as readonly string[]).includes(format);
}

/**
 * Renders one machine as a Mermaid `stateDiagram-v2`, a W3C SCXML document, an SVG statechart (laid out by ELK, hence
 * async) or the JSON model; rejects with `ERR_HTTP_NOT_FOUND` for an unknown machine and `ERR_HTTP_INVALID_REQUEST`
 * for an unknown format.
 */
export async function renderDiagram(name: string, format: string): Promise<RenderedDiagram> {
  const model = getMachineModel(name);
  if (!isDiagramFormat(format)) {
    throw new PhaselineError('ERR_HTTP_INVALID_REQUEST',
      `unknown diagram format ${JSON.stringify(format)}; use one of ${DIAGRAM_FORMATS.join(', ')}`,
      { format, formats: [...DIAGRAM_FORMATS] });
  }
  return { contentType: CONTENT_TYPES[format], body: await renderBody(model, format) };
}

const svgs = new Map<string, Promise<string>>();

async function renderBody(model: MachineModel, format: DiagramFormat): Promise<string> {
  switch (format) {
    case 'mermaid': return toMermaid(model);
    case 'scxml': return toScxml(model);
    case 'svg': {
      // The layout is the costly part and definitions are immutable: lay each machine out once per process.
      let svg = svgs.get(model.name);
      if (!svg) {
        svg = toSvg(model);
        svgs.set(model.name, svg);
        svg.catch(() => svgs.delete(model.name));
      }
      return svg;
    }
    case 'json': return `${JSON.stringify(model, null, 2)}\n`;
  }
}
