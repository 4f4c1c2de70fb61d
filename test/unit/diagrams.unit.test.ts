import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { PHASE_MACHINE_VERSION, phaseMachine } from '../../machines/phase.machine.ts';
import { UNIT_MACHINE_VERSION } from '../../machines/unit.machine.ts';
import { getMachineModel, machineList, machineNames, renderDiagram } from '../../src/diagrams/index.ts';
import { toMermaid } from '../../src/diagrams/mermaid.ts';
import { machineModel } from '../../src/diagrams/model.ts';
import { toScxml } from '../../src/diagrams/scxml.ts';
import { escapeXml, toSvg } from '../../src/diagrams/svg.ts';
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

  it('gives the same model, byte for byte, every time it walks the definition', async () => {
    expect(JSON.stringify(machineModel('phase', 1, phaseMachine))).toBe(JSON.stringify(machineModel('phase', 1, phaseMachine)));
    expect((await renderDiagram('phase', 'json')).body).toBe(`${JSON.stringify(phase, null, 2)}\n`);
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
      expect.objectContaining({ name: 'unit', version: UNIT_MACHINE_VERSION, states: 10 }),
    ]));
  });
});

describe('mermaid', () => {
  it('draws the ISA-88 graph with an initial state and guarded transitions', async () => {
    const text = (await renderDiagram('phase', 'mermaid')).body;
    expect(text.startsWith('stateDiagram-v2\n')).toBe(true);
    expect(text).toContain('[*] --> Idle');
    expect(text).toContain('Idle --> Running : START');
    expect(text).toContain('Running --> Complete : STATE_COMPLETE [and(isManual, fromMatches)]');
    expect(text).toContain('%% phase : * (targetless)');
  });

  it('separates parallel regions with -- inside the machine state', async () => {
    const text = (await renderDiagram('unit', 'mermaid')).body;
    expect(text).toMatch(/state unit \{\n[\s\S]*state availability \{[\s\S]*\n\s+--\n[\s\S]*state hygiene \{/);
    expect(text).toContain('availability_Allocated --> hygiene_Dirty : RELEASE [releaseMatches]');
    expect(text).toContain('hygiene_Cleaning --> hygiene_Clean : CIP_COMPLETE [cycleOk]');
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
  it('is well-formed and holds the 12 phase states inside the machine root, with the transitions', async () => {
    const doc = parseXml((await renderDiagram('phase', 'scxml')).body);
    expect(doc).toMatchObject({ name: 'scxml', attrs: { xmlns: 'http://www.w3.org/2005/07/scxml', version: '1.0', initial: 'phase', datamodel: 'ecmascript' } });
    expect(doc.children[0]).toMatchObject({ name: 'datamodel', children: [{ name: 'data', attrs: { id: 'plGuard' } }] });
    const root = doc.children[1]!;
    expect(root).toMatchObject({ name: 'state', attrs: { id: 'phase', initial: 'Idle' } });
    const states = root.children.filter((c) => c.name === 'state' || c.name === 'final');
    expect(states.map((s) => s.attrs.id)).toEqual(ISA88_STATES);
    const idle = states[0]!.children.filter((c) => c.name === 'transition');
    expect(idle.at(-1)!.attrs).toMatchObject({ event: 'START', target: 'Running' });
    expect(idle[0]!.attrs).toMatchObject({ event: 'START', cond: "!(plGuard(_event, 'permissivesMet'))", 'pl:guard': 'not(permissivesMet)', 'pl:actions': 'reject' });
    expect(all(doc).filter((e) => e.name.includes(':'))).toEqual([]); // extensions only as foreign attributes
    expect(root.children.some((c) => c.name === 'transition' && c.attrs.event === '*')).toBe(true);
  });

  it('renders the unit machine as a <parallel> with a multi-target transition', async () => {
    const doc = parseXml((await renderDiagram('unit', 'scxml')).body);
    expect(doc.children[1]).toMatchObject({ name: 'parallel', attrs: { id: 'unit' } });
    const release = all(doc).find((e) => e.name === 'transition' && e.attrs.event === 'RELEASE' && e.attrs.target?.includes(' '));
    // The target in the other region first (a set to SCXML; SCION takes the transition domain from the first).
    expect(release?.attrs).toMatchObject({ event: 'RELEASE', target: 'hygiene.Dirty availability.Available' });
    const dirty = all(doc).find((e) => e.name === 'transition' && e.attrs['pl:guard'] === 'and(releaseMatches, in({"hygiene":"Dirty"}))');
    expect(dirty?.attrs.cond).toBe("(plGuard(_event, 'releaseMatches') && In('hygiene.Dirty'))");
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

/** parseXml for SVG, whose text nodes it does not keep: checks entities in text, then drops the text. */
function parseSvg(svg: string): XmlElement {
  expect(svg.match(/&(?!(amp|lt|gt|quot|apos|#\d+);)/g) ?? []).toEqual([]);
  return parseXml(svg.replace(/>[^<]+</g, '><'));
}

describe('svg', () => {
  for (const name of machineNames()) {
    it(`draws ${name} as well-formed SVG with a labelled box for every state and every transition`, async () => {
      const model = getMachineModel(name);
      const svg = await toSvg(model);
      const doc = parseSvg(svg);
      expect(doc).toMatchObject({ name: 'svg', attrs: { xmlns: 'http://www.w3.org/2000/svg' } });
      const groups = all(doc).filter((e) => e.name === 'g' && e.attrs['data-state'] !== undefined);
      expect(groups.map((g) => g.attrs['data-state']).sort()).toEqual(model.states.map((s) => s.id).sort());
      for (const g of groups) {
        expect(g.children.map((c) => c.name)).toEqual(expect.arrayContaining(['title', 'rect', 'text']));
      }
      const byIndex = new Map<number, XmlElement[]>();
      for (const e of all(doc).filter((x) => x.attrs['data-t'] !== undefined)) {
        byIndex.set(Number(e.attrs['data-t']), [...(byIndex.get(Number(e.attrs['data-t'])) ?? []), e]);
      }
      const ids = new Set(model.states.map((s) => s.id));
      model.transitions.forEach((t, i) => {
        const drawn = byIndex.get(i) ?? [];
        if (t.target !== undefined && ids.has(t.source)) {
          // An edge per target, each a path with an arrowhead and a label.
          expect(drawn).toHaveLength((t.targets ?? [t.target]).length);
          for (const g of drawn) {
            expect(g).toMatchObject({ name: 'g', attrs: { 'data-source': t.source } });
            expect(g.children.find((c) => c.name === 'path')?.attrs['marker-end']).toMatch(/^url\(#/);
            expect(g.children.some((c) => c.name === 'text')).toBe(true);
          }
        } else {
          // Targetless transitions and root handlers are listed beside the graph.
          expect(drawn.map((e) => e.name)).toEqual(['text']);
        }
      });
      expect(svg.split('\n')[1]).toBe(`<title>${name} statechart (machine version ${model.version})</title>`);
    });
  }

  it('labels edges EVENT [guard] and draws the phase initial marker, the state clause and hover descriptions', async () => {
    const svg = (await renderDiagram('phase', 'svg')).body;
    expect(svg).toContain('>STATE_COMPLETE [and(isManual, fromMatches)]</text>');
    expect(svg).toContain('>START</text>');
    expect(svg).toContain('class="initial-marker"');
    expect(svg).toContain('>ISA-88 §5.7.2</text>');
    expect(svg).toContain('<title>Idle — Quiescent (initial): not executing, waits for Start — ISA-88 §5.7.2</title>');
    expect(svg).toContain('>phase — machine version 1</text>');
  });

  it('draws parallel regions as dashed region boxes and final states with a double border', async () => {
    const unit = await renderDiagram('unit', 'svg');
    expect(unit.body).toMatch(/<g class="state region" data-state="availability">/);
    expect(unit.body).toMatch(/<g class="state region" data-state="hygiene">/);
    expect(unit.body).toContain('data-source="availability.Allocated" data-target="hygiene.Dirty"');
    const machine = createMachine({ id: 'f', initial: 'A', states: { A: { on: { GO: 'B' } }, B: { type: 'final' } } });
    const svg = await toSvg(machineModel('f', 1, machine));
    const final = parseSvg(svg).children.find((e) => e.attrs['data-state'] === 'B')!;
    expect(final.attrs.class).toBe('state final');
    expect(final.children.filter((c) => c.name === 'rect')).toHaveLength(2);
  });

  it('gives byte-identical SVG every time (no random ids, no dates)', async () => {
    const fresh = machineModel('phase', PHASE_MACHINE_VERSION, phaseMachine);
    const first = await toSvg(fresh);
    expect(await toSvg(fresh)).toBe(first);
    expect(await toSvg(structuredClone(fresh))).toBe(first);
    expect((await renderDiagram('phase', 'svg')).body).toBe(first);
    const unit = getMachineModel('unit');
    expect(await toSvg(unit)).toBe(await toSvg(unit));
  });

  it('escapes <, & and > in state names, guards, descriptions and the machine name', async () => {
    const machine = createMachine({
      id: 'x', initial: 'A', meta: { description: 'a < b & c > d' },
      states: {
        'A<&>': {}, A: { meta: { description: '"quoted" & <tagged>' }, on: { 'GO<&>': { target: 'B', guard: 'g<&>' } } },
        B: { type: 'final' },
      },
    });
    const svg = await toSvg(machineModel('x<&>', 1, machine));
    expect(() => parseSvg(svg)).not.toThrow();
    expect(svg).toContain('>A&lt;&amp;&gt;</text>');
    expect(svg).toContain('>GO&lt;&amp;&gt; [g&lt;&amp;&gt;]</text>');
    expect(svg).toContain('&quot;quoted&quot; &amp; &lt;tagged&gt;');
    expect(svg).toContain('>x&lt;&amp;&gt; — machine version 1</text>');
    expect(svg).not.toMatch(/<(?!\/?[A-Za-z]|\?xml)/);
    expect(escapeXml('<&>"\'\u0001')).toBe('&lt;&amp;&gt;&quot;&apos;');
  });
});

describe('renderDiagram', () => {
  it('refuses an unknown machine with not_found and an unknown format with invalid_request', async () => {
    await expect(renderDiagram('nope', 'mermaid')).rejects.toMatchObject({ code: 'ERR_HTTP_NOT_FOUND' });
    await expect(renderDiagram('phase', 'png')).rejects.toMatchObject({
      code: 'ERR_HTTP_INVALID_REQUEST', details: { formats: ['mermaid', 'scxml', 'svg', 'json'] },
    });
    await expect(renderDiagram('toString', 'json')).rejects.toThrow(PhaselineError);
  });

  it('answers each format with its media type', async () => {
    expect((await renderDiagram('phase', 'mermaid')).contentType).toMatch(/^text\/vnd\.mermaid/);
    expect((await renderDiagram('phase', 'scxml')).contentType).toMatch(/^application\/scxml\+xml/);
    expect((await renderDiagram('phase', 'svg')).contentType).toBe('image/svg+xml; charset=utf-8');
    expect(JSON.parse((await renderDiagram('unit', 'json')).body)).toEqual(getMachineModel('unit'));
  });
});
