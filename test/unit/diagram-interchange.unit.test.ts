import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { getMachineModel, renderDiagram } from '../../src/diagrams/index.ts';
import { toMermaid } from '../../src/diagrams/mermaid.ts';
import { machineModel, wrapperId } from '../../src/diagrams/model.ts';
import { scxmlCondition, toScxml } from '../../src/diagrams/scxml.ts';

// What the outside tools need of the generated text (the tools themselves judge it in mermaid-cli.int.test.ts and
// scxml-interpreter.unit.test.ts); these rules hold without them.

describe('SCXML conditions', () => {
  it('turns a named guard into a datamodel call that keeps the name', () => {
    expect(scxmlCondition('permissivesMet')).toBe("plGuard(_event, 'permissivesMet')");
  });

  it('turns not/and/or into ECMAScript operators and in(<state value>) into In() with the dotted state id', () => {
    expect(scxmlCondition('and(isManual, fromMatches)')).toBe("(plGuard(_event, 'isManual') && plGuard(_event, 'fromMatches'))");
    expect(scxmlCondition('not(or(in({"hygiene":"Clean"}), in({"hygiene":"Sterile"})))'))
      .toBe("!((In('hygiene.Clean') || In('hygiene.Sterile')))");
    expect(scxmlCondition('in({"a":{"b":"c"},"d":"e"})')).toBe("(In('a.b.c') && In('d.e'))");
    expect(scxmlCondition('in("Idle")')).toBe("In('Idle')");
  });

  it('refuses a guard text it cannot translate instead of writing it as cond', () => {
    expect(() => scxmlCondition('xor(a, b)')).toThrow(/no SCXML form for xor/);
    expect(() => scxmlCondition('in("#phase.Idle")')).toThrow(/state id reference/);
    expect(() => scxmlCondition('and(a, b')).toThrow(/expected/);
    expect(() => scxmlCondition('a b')).toThrow(/expected the end/);
  });

  it('writes no element outside the SCXML namespace, and each guard both as cond and as pl:guard', async () => {
    const xml = (await renderDiagram('unit', 'scxml')).body;
    expect(xml.match(/<\/?[A-Za-z]+:[A-Za-z]/g) ?? []).toEqual([]);
    const guarded = getMachineModel('unit').transitions.filter((t) => t.guard).length;
    expect(xml.match(/ cond="/g)).toHaveLength(guarded);
    expect(xml.match(/ pl:guard="/g)).toHaveLength(guarded);
    expect(xml).not.toMatch(/cond="[^"]*\bin\(\{/);
  });
});

describe('machine wrapper ids', () => {
  it('keeps the machine name unless a state has it', () => {
    expect(wrapperId('unit', new Set(['availability', 'hygiene']))).toBe('unit');
    expect(wrapperId('alarm', new Set(['alarm', 'shelving']))).toBe('alarm_machine');
    expect(wrapperId('alarm', new Set(['alarm', 'alarm_machine']))).toBe('alarm_machine2');
  });

  it('wraps the alarm machine, whose first region is also named alarm, in a state of another id (Mermaid and SCXML)', async () => {
    const mermaid = (await renderDiagram('alarm', 'mermaid')).body;
    expect(mermaid).toContain('    state "alarm" as alarm_machine\n    [*] --> alarm_machine\n    state alarm_machine {\n');
    expect(mermaid).toMatch(/\n {8}state alarm \{/);
    const scxml = (await renderDiagram('alarm', 'scxml')).body;
    expect(scxml).toContain('initial="alarm_machine"');
    expect(scxml).toContain('<parallel id="alarm_machine"');
    expect(scxml.match(/ id="alarm"/g)).toHaveLength(1);
  });

  it('labels every described atomic state with its name in Mermaid, and leaves composite descriptions as comments', () => {
    const machine = createMachine({
      id: 'm', initial: 'A',
      states: { A: { meta: { description: 'first' }, initial: 'B', states: { B: { meta: { description: 'inner' } } } } },
    });
    const text = toMermaid(machineModel('m', 1, machine));
    expect(text).toContain('    %% A : first\n    state A {');
    expect(text).toContain('        state "B" as A_B\n        A_B : inner');
    expect(toScxml(machineModel('m', 1, machine))).toContain('<state id="A" initial="A.B" pl:description="first">');
  });
});
