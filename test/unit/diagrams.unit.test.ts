import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { PHASE_MACHINE_VERSION, phaseMachine } from '../../machines/phase.machine.ts';
import { UNIT_MACHINE_VERSION } from '../../machines/unit.machine.ts';
import { getMachineModel, machineList, renderDiagram } from '../../src/diagrams/index.ts';
import { toMermaid } from '../../src/diagrams/mermaid.ts';
import { machineModel } from '../../src/diagrams/model.ts';
import { toScxml } from '../../src/diagrams/scxml.ts';
import { PhaselineError } from '../../src/errors.ts';
import { ISA88_MATRIX, ISA88_STATES, type Isa88Column } from '../model/requirements/isa88-phase.ts';

interface XmlElement { name: string; attrs: Record<string, string>; children: XmlElement[] }

/** A tiny XML well-formedness check: balanced tags, quoted attributes, known entities; returns the element tree. */
function parseXml(xml: string): XmlElement {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: XmlElement[] = [{ name: '#document', attrs: {}, children: [] }];
  const token = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let at = 0;
  for (let m = token.exec(body); m; m = token.exec(body)) {
    at = token.lastIndex;
    const [, close, name, attrText, selfClose, text] = m;
    if (text !== undefined) {
      if (text.trim() !== '') throw new Error(`unexpected text ${JSON.stringify(text.trim())}`);
      continue;
    }
    if (close) {
      const open = stack.pop()!;
      if (open.name !== name) throw new Error(`</${name}> closes <${open.name}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([A-Za-z_][\w.:-]*)="([^"]*)"/g)) {
      if (/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(a[2]!)) throw new Error(`bad entity in ${a[1]}`);
      if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
      attrs[a[1]!] = a[2]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
    }
    const el: XmlElement = { name: name!, attrs, children: [] };
    stack[stack.length - 1]!.children.push(el);
    if (!selfClose) stack.push(el);
  }
  if (at !== body.length) throw new Error(`not well-formed at offset ${at}`);
  if (stack.length !== 1 || stack[0]!.children.length !== 1) throw new Error('unbalanced or several root elements');
  return stack[0]!.children[0]!;
}

const all = (el: XmlElement): XmlElement[] => [el, ...el.children.flatMap(all)];

describe('diagram model', () => {
  const phase = getMachineModel('phase');

  it('lists the 12 ISA-88 states of the phase machine, Idle initial, in definition order', () => {
    expect(phase.states.map((s) => s.id)).toEqual(ISA88_STATES);
    expect(phase.states.every((s) => s.type === 'atomic' && s.meta?.isa88 === '5.7.2')).toBe(true);
    expect(phase.states.filter((s) => s.initial).map((s) => s.id)).toEqual(['Idle']);
    expect(phase).toMatchObject({ name: 'phase', version: PHASE_MACHINE_VERSION, type: 'compound', initial: 'Idle' });
  });

  it('has every ISA-88 command (25) and state-complete (6) transition with its target (STANDARDS.md §1.3)', () => {
    const targeted = phase.transitions.filter((t) => t.target !== undefined && t.source !== 'phase');
    const cells = ISA88_STATES.flatMap((state) => Object.entries(ISA88_MATRIX[state])
      .map(([column, target]) => ({ source: state, event: column === 'SC' ? 'STATE_COMPLETE' : column, target, column: column as Isa88Column })));
    expect(cells.filter((c) => c.column !== 'SC')).toHaveLength(25);
    expect(cells.filter((c) => c.column === 'SC')).toHaveLength(6);
    expect(targeted.map(({ source, event, target }) => ({ source, event, target })))
      .toEqual(expect.arrayContaining(cells.map(({ source, event, target }) => ({ source, event, target }))));
    expect(targeted).toHaveLength(31);
    const sc = targeted.find((t) => t.source === 'Running' && t.event === 'STATE_COMPLETE');
    expect(sc).toMatchObject({ target: 'Complete', guard: 'and(isManual, fromMatches)', actions: ['recordStateComplete'] });
  });

  it('keeps targetless transitions, guards, action names and the wildcard', () => {
    const start = phase.transitions.filter((t) => t.source === 'Idle' && t.event === 'START');
    expect(start.map((t) => [t.guard, t.target, t.actions])).toEqual([
      ['not(permissivesMet)', undefined, ['reject']],
      ['and(isAutomatic, not(plcConfigured))', undefined, ['reject']],
      ['isAutomatic', undefined, ['writePlc', 'storePendingCommand']],
      [undefined, 'Running', ['storeCommand', 'recordCommand']],
    ]);
    expect(phase.transitions.filter((t) => t.event === '*')).toMatchObject([{ source: 'phase', event: '*', actions: ['reject'] }]);
    expect(phase.transitions.filter((t) => t.source === 'phase' && t.event === 'PLC_STATE' && t.target)).toHaveLength(12);
  });

  it('gives the same model, byte for byte, every time it walks the definition', () => {
    expect(JSON.stringify(machineModel('phase', 1, phaseMachine))).toBe(JSON.stringify(machineModel('phase', 1, phaseMachine)));
    expect(renderDiagram('phase', 'json').body).toBe(`${JSON.stringify(phase, null, 2)}\n`);
  });

  it('models the unit machine as a parallel root with two regions and a two-target release', () => {
    const unit = getMachineModel('unit');
    expect(unit).toMatchObject({ type: 'parallel', version: UNIT_MACHINE_VERSION });
    expect(unit.states.filter((s) => !s.parent).map((s) => s.id)).toEqual(['availability', 'hygiene']);
    expect(unit.states.find((s) => s.id === 'availability.Available')).toMatchObject({ parent: 'availability', initial: true });
    expect(unit.transitions.find((t) => t.event === 'RELEASE' && t.targets))
      .toMatchObject({ source: 'availability.Allocated', targets: ['availability.Available', 'hygiene.Dirty'], guard: 'releaseMatches' });
  });

  it('lists every machine with counts', () => {
    expect(machineList()).toEqual(expect.arrayContaining([
      { name: 'phase', version: PHASE_MACHINE_VERSION, states: 12, transitions: getMachineModel('phase').transitions.length },
      expect.objectContaining({ name: 'unit', version: UNIT_MACHINE_VERSION, states: 6 }),
    ]));
  });
});

describe('mermaid', () => {
  it('draws the ISA-88 graph with an initial state and guarded transitions', () => {
    const text = renderDiagram('phase', 'mermaid').body;
    expect(text.startsWith('stateDiagram-v2\n')).toBe(true);
    expect(text).toContain('[*] --> Idle');
    expect(text).toContain('Idle --> Running : START');
    expect(text).toContain('Running --> Complete : STATE_COMPLETE [and(isManual, fromMatches)]');
    expect(text).toContain('%% phase : * (targetless)');
  });

  it('separates parallel regions with -- inside the machine state', () => {
    const text = renderDiagram('unit', 'mermaid').body;
    expect(text).toMatch(/state unit \{\n[\s\S]*state availability \{[\s\S]*\n\s+--\n[\s\S]*state hygiene \{/);
    expect(text).toContain('availability_Allocated --> hygiene_Dirty : RELEASE [releaseMatches]');
    expect(text).toContain('hygiene_Dirty --> hygiene_Clean : CLEANED');
  });

  it('keeps labels free of characters that end a Mermaid statement', () => {
    const machine = createMachine({
      id: 'odd', initial: 'A',
      states: { A: { meta: { description: 'a: b; c #1' }, on: { GO: 'B' } }, B: { type: 'final' } },
    });
    const text = toMermaid(machineModel('odd', 1, machine));
    expect(text).toContain('A : a - b - c no. 1');
    expect(text).toContain('B --> [*]');
  });
});

describe('scxml', () => {
  it('is well-formed and holds the 12 phase states inside the machine root, with the transitions', () => {
    const doc = parseXml(renderDiagram('phase', 'scxml').body);
    expect(doc).toMatchObject({ name: 'scxml', attrs: { xmlns: 'http://www.w3.org/2005/07/scxml', version: '1.0', initial: 'phase' } });
    const root = doc.children[0]!;
    expect(root).toMatchObject({ name: 'state', attrs: { id: 'phase', initial: 'Idle' } });
    const states = root.children.filter((c) => c.name === 'state' || c.name === 'final');
    expect(states.map((s) => s.attrs.id)).toEqual(ISA88_STATES);
    const idle = states[0]!.children.filter((c) => c.name === 'transition');
    expect(idle.at(-1)!.attrs).toMatchObject({ event: 'START', target: 'Running' });
    expect(idle[0]!.attrs).toMatchObject({ event: 'START', cond: 'not(permissivesMet)' });
    expect(root.children.some((c) => c.name === 'transition' && c.attrs.event === '*')).toBe(true);
  });

  it('renders the unit machine as a <parallel> with a multi-target transition', () => {
    const doc = parseXml(renderDiagram('unit', 'scxml').body);
    expect(doc.children[0]).toMatchObject({ name: 'parallel', attrs: { id: 'unit' } });
    const release = all(doc).find((e) => e.name === 'transition' && e.attrs.target?.includes(' '));
    expect(release?.attrs).toMatchObject({ event: 'RELEASE', target: 'availability.Available hygiene.Dirty' });
  });

  it('escapes XML in descriptions and marks final states', () => {
    const machine = createMachine({
      id: 'x', initial: 'A',
      states: { A: { meta: { description: 'a < b & "c"' }, on: { GO: { target: 'B', meta: { description: "it's > 0" } } } }, B: { type: 'final' } },
    });
    const xml = toScxml(machineModel('x', 1, machine));
    const doc = parseXml(xml);
    expect(all(doc).find((e) => e.attrs.id === 'A')!.attrs['pl:description']).toBe('a < b & "c"');
    expect(all(doc).find((e) => e.name === 'transition')!.attrs['pl:description']).toBe("it's > 0");
    expect(all(doc).find((e) => e.attrs.id === 'B')!.name).toBe('final');
  });
});

describe('renderDiagram', () => {
  it('refuses an unknown machine with not_found and an unknown format with invalid_request', () => {
    expect(() => renderDiagram('nope', 'mermaid')).toThrow(expect.objectContaining({ code: 'ERR_HTTP_NOT_FOUND' }));
    expect(() => renderDiagram('phase', 'png')).toThrow(expect.objectContaining({ code: 'ERR_HTTP_INVALID_REQUEST' }));
    expect(() => renderDiagram('phase', 'svg')).toThrow(/SVG diagrams are not available yet/);
    expect(() => renderDiagram('toString', 'json')).toThrow(PhaselineError);
  });

  it('answers each format with its media type', () => {
    expect(renderDiagram('phase', 'mermaid').contentType).toMatch(/^text\/vnd\.mermaid/);
    expect(renderDiagram('phase', 'scxml').contentType).toMatch(/^application\/scxml\+xml/);
    expect(JSON.parse(renderDiagram('unit', 'json').body)).toEqual(getMachineModel('unit'));
  });
});
