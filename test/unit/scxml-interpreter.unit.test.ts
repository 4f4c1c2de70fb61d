import { createRequire } from 'node:module';
import { expect, it } from 'vitest';
import { getMachineModel, machineNames, renderDiagram } from '../../src/diagrams/index.ts';
import type { DiagramState } from '../../src/diagrams/model.ts';
import { describeWithTools, type Tool } from '../helpers/tools.ts';

/** The structural part of SCION's API the test drives (W3C SCXML interpreter, npm `@scion-scxml/scxml`). */
interface Interpreter {
  start(): string[];
  gen(event: { name: string; data?: unknown }): string[];
  getConfiguration(): string[];
  on(event: 'onError', listener: (err: unknown) => void): void;
}
interface Factory { prepare(cb: (err: Error | null, model: unknown) => void): void }
interface Scion {
  documentStringToModel(url: string, doc: string, cb: (err: Error | null, factory: Factory) => void): void;
  core: { Statechart: new (model: unknown) => Interpreter };
}

const PACKAGE = '@scion-scxml/scxml';
let scion: Scion | undefined;
let missing: string | undefined;
try {
  scion = createRequire(import.meta.url)(PACKAGE) as Scion;
} catch (err) {
  missing = `${PACKAGE} cannot be loaded (${(err as Error).message.split('\n')[0]}); install it with: npm ci`;
}
const interpreter: Tool = { name: PACKAGE, ...(missing ? { missing } : { path: PACKAGE }) };

/** Loads, compiles and instantiates one SCXML document; every step of it may refuse the document. */
async function load(name: string, doc: string): Promise<{ sc: Interpreter; errors: unknown[] }> {
  // A throw inside a Promise executor, or after an await, rejects: no step needs a try of its own.
  const factory = await new Promise<Factory>((resolve, reject) =>
    scion!.documentStringToModel(`${name}.scxml`, doc, (err, f) => (err ? reject(err) : resolve(f))));
  const model = await new Promise<unknown>((resolve, reject) => factory.prepare((err, m) => (err ? reject(err) : resolve(m))));
  const sc = new scion!.core.Statechart(model);
  const errors: unknown[] = [];
  sc.on('onError', (e) => errors.push(e));
  return { sc, errors };
}

/** Guard outcomes travel with the event (src/diagrams/scxml.ts): `data.guards.<name> === true` makes a guard hold. */
const holds = (...guards: string[]) => ({ guards: Object.fromEntries(guards.map((g) => [g, true])) });

interface Step { event: string; data?: unknown; then: string[]; why: string }

/**
 * Per machine: the initial configuration (atomic states) that the machine definition starts in, and events along
 * known transitions with the configuration each leads to — guarded alternatives included, so a `cond` that the
 * interpreter ignored or could not evaluate shows as a wrong state.
 */
const RUNS: Record<string, { initial: string[]; steps: Step[] }> = {
  phase: {
    initial: ['Idle'],
    steps: [
      { event: 'START', then: ['Idle'], why: 'not(permissivesMet) holds: refused, state unchanged' },
      { event: 'START', data: holds('permissivesMet'), then: ['Running'], why: 'permissives met, manual phase: Idle → Running' },
      { event: 'HOLD', then: ['Holding'], why: 'Running → Holding' },
      { event: 'STATE_COMPLETE', data: holds('isManual', 'fromMatches'), then: ['Held'], why: 'and(isManual, fromMatches): Holding → Held' },
    ],
  },
  unit: {
    initial: ['availability.Available', 'hygiene.Clean'],
    steps: [
      { event: 'ALLOCATE', then: ['availability.Allocated', 'hygiene.Clean'], why: 'In(hygiene.Clean): allocation allowed' },
      { event: 'SIP_START', then: ['availability.Allocated', 'hygiene.Clean'], why: 'In(availability.Allocated): SIP refused' },
      { event: 'RELEASE', data: holds('releaseMatches'), then: ['availability.Available', 'hygiene.Dirty'], why: 'two-target release' },
      { event: 'ALLOCATE', then: ['availability.Available', 'hygiene.Dirty'], why: 'not(or(In(Clean), In(Sterile))): refused' },
    ],
  },
  alarm: {
    initial: ['alarm.Normal', 'shelving.NotShelved', 'suppression.NotSuppressed', 'service.InService'],
    steps: [
      { event: 'REPORT', data: holds('activates'), then: ['alarm.Unacknowledged', 'shelving.NotShelved', 'suppression.NotSuppressed', 'service.InService'], why: 'A → B' },
      {
        event: 'REPORT', data: holds('acks', 'reportsShelved'),
        then: ['alarm.Acknowledged', 'shelving.Shelved', 'suppression.NotSuppressed', 'service.InService'], why: 'one event, two regions',
      },
      { event: 'OUT_OF_SERVICE_REQUEST', then: ['alarm.Acknowledged', 'shelving.Shelved', 'suppression.NotSuppressed', 'service.InService'], why: 'In(shelving.Shelved): refused' },
    ],
  },
  batch: {
    initial: ['Created'],
    steps: [
      { event: 'REQUEST_START', then: ['StartRequested'], why: 'Created → StartRequested; the start gate is not met' },
      { event: 'UNIT_STATUS', data: holds('startGateMet'), then: ['Started'], why: 'eventless transition once startGateMet holds' },
      { event: 'COMPLETE', then: ['Complete'], why: 'Started → Complete' },
    ],
  },
  contextHandshake: {
    initial: ['NoContext'],
    steps: [
      { event: 'ASSERT_CONTEXT', data: holds('sequenceInvalid'), then: ['NoContext'], why: 'invalid sequence: refused' },
      { event: 'ASSERT_CONTEXT', then: ['Asserted'], why: 'NoContext → Asserted' },
    ],
  },
  edgeLink: {
    initial: ['Unknown'],
    steps: [
      { event: 'HEARTBEAT', data: holds('buffering'), then: ['Buffering'], why: 'Unknown → Buffering' },
      { event: 'HEARTBEAT', then: ['Online'], why: 'Buffering → Online' },
      { event: 'TIMER', data: holds('staleDue'), then: ['Stale'], why: 'Online → Stale' },
    ],
  },
  equipmentModule: {
    initial: ['Ready'],
    steps: [
      { event: 'ACQUIRE', then: ['Running'], why: 'Ready → Running' },
      { event: 'INTERLOCK', then: ['Interlocked'], why: 'a root handler: any state → Interlocked' },
    ],
  },
  exception: {
    initial: ['Open'],
    steps: [
      { event: 'ACKNOWLEDGE', then: ['Acknowledged'], why: 'Open → Acknowledged' },
      { event: 'INVESTIGATE', data: holds('causeOrActionMissing'), then: ['Acknowledged'], why: 'cause or action missing: refused' },
      { event: 'INVESTIGATE', then: ['Investigated'], why: 'Acknowledged → Investigated' },
      { event: 'SIGN', then: ['Signed'], why: 'Investigated → Signed' },
    ],
  },
};

const sorted = (ids: string[]) => [...ids].sort();

describeWithTools('an SCXML interpreter (SCION) loads and runs every generated document (docs/diagrams/*.scxml)', [interpreter], () => {
  it('has a run for every machine', () => {
    expect(Object.keys(RUNS).sort()).toEqual(machineNames().sort());
  });

  for (const name of machineNames()) {
    it(`runs ${name}: starts in the machine's initial state and follows known transitions`, async () => {
      const run = RUNS[name];
      expect(run, `no run for ${name}`).toBeDefined();
      // The initial configuration the definition declares (xstate's initial flags) is the one of the run table.
      const model = getMachineModel(name);
      const byId = new Map(model.states.map((s) => [s.id, s]));
      // Entered on start: initial in its parent (every region of a parallel one is), and the parent entered too.
      const entered = (s: DiagramState): boolean => {
        const parent = s.parent === undefined ? undefined : byId.get(s.parent);
        return (s.initial === true || (parent?.type ?? model.type) === 'parallel') && (parent === undefined || entered(parent));
      };
      const initialLeaves = model.states.filter((s) => s.type !== 'compound' && s.type !== 'parallel' && entered(s));
      expect(sorted(initialLeaves.map((s) => s.id))).toEqual(sorted(run!.initial));

      const { sc, errors } = await load(name, (await renderDiagram(name, 'scxml')).body);
      expect(sorted(sc.start())).toEqual(sorted(run!.initial));
      for (const step of run!.steps) {
        sc.gen({ name: step.event, ...(step.data === undefined ? {} : { data: step.data }) });
        expect(sorted(sc.getConfiguration()), `${step.event}: ${step.why}`).toEqual(sorted(step.then));
      }
      expect(errors, 'error.execution raised while running').toEqual([]);
    });
  }

  it('reports an XState guard name written as cond, as the documents had it (the check can fail)', async () => {
    const generated = (await renderDiagram('unit', 'scxml')).body;
    const doc = generated.replaceAll(`cond="(In('hygiene.Cleaning') || In('hygiene.Sterilising'))"`,
      'cond="or(in({&quot;hygiene&quot;:&quot;Cleaning&quot;}), in({&quot;hygiene&quot;:&quot;Sterilising&quot;}))"');
    expect(doc, 'the cond to replace is no longer generated').not.toBe(generated);
    const { sc, errors } = await load('unit-xstate-cond', doc);
    sc.start();
    sc.gen({ name: 'ALLOCATE' });
    expect(errors).not.toEqual([]);
  });
});
