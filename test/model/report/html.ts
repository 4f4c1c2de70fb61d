import type { ModelResult } from '../harness/check.ts';
import type { Verdict } from './evaluate.ts';

/** What the report says about the run itself (Annex 11 §4: the validation evidence identifies what was tested). */
export interface RunInfo {
  date: string;
  product: string;
  commit: string;
  configVersion: string;
  runtime: string;
  dependencies: Record<string, string>;
}

const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (n: number, d: number): string => (d === 0 ? '—' : `${((100 * n) / d).toFixed(1)} %`);
const anchor = (machine: string, path: string): string => `${machine}-path-${path.replace(/[^A-Za-z0-9]+/g, '-')}`;
const testLinks = (machine: string, ids: string[]): string =>
  ids.length === 0 ? '<span class="bad">not covered</span>' : ids.slice(0, 6).map((id) => `<a href="#${anchor(machine, id)}">${esc(id)}</a>`).join(', ') + (ids.length > 6 ? ` (+${ids.length - 6})` : '');

function machineSection(name: string, svg: string, r: ModelResult | undefined): string {
  if (!r) return `<section id="m-${esc(name)}"><h2>${esc(name)}</h2><div class="diagram">${svg}</div><p class="bad">No model-based run.</p></section>`;
  const c = r.coverage;
  const transitions = r.transitions.map((t) => `<tr><td>${esc(t.key)}</td><td>${esc(t.target ?? '(stays)')}</td><td>${esc(t.guard ?? '')}</td><td>${esc(t.description ?? '')}</td><td>${testLinks(name, t.coveredBy)}</td><td>${t.guard ? testLinks(name, t.guardFalseBy).replace('not covered', 'not exercised') : ''}</td></tr>`).join('');
  const states = r.states.map((s) => `<tr><td>${esc(s.id)}</td><td>${testLinks(name, s.coveredBy)}</td></tr>`).join('');
  const trace = r.requirements.map((q) => {
    const result = q.tests.length === 0 ? '<span class="warn">not exercised here (unit tests)</span>' : q.ok ? '<span class="ok">pass</span>' : '<span class="bad">FAIL</span>';
    return `<tr><td>${esc(q.id)}</td><td>${esc(q.text)}<div class="src">${esc(q.source)}</div></td><td>${q.transitions.map(esc).join('<br>')}</td><td>${testLinks(name, q.tests)}</td><td>${result}</td></tr>`;
  }).join('');
  const paths = r.paths.map((p) => `<details id="${anchor(name, p.id)}"${p.ok ? '' : ' open'}><summary class="${p.ok ? 'ok' : 'bad'}">${esc(p.id)} [${esc(p.variant)}] ${p.ok ? 'pass' : 'FAIL'} — ${esc(p.purpose)}</summary><ol>${p.steps.map((s, i) =>
    `<li${i === p.restoredAt ? ' class="restore"' : ''}>${esc(s.from)} —${esc(s.event)}${s.given ? `(${esc(s.given)})` : ''}→ ${esc(s.rejection ? `refused: ${s.rejection}` : s.to)} <span class="src">${esc(s.requirement ?? '')} ${esc(s.row ?? '')}</span>${s.ok ? '' : ` <span class="bad">${esc(s.problem)}</span>`}</li>`).join('')}</ol></details>`).join('');
  return `<section id="m-${esc(name)}">
<h2>${esc(name)} <small>machine version ${esc(r.version)}</small></h2>
<p>States ${c.statesCovered}/${c.states} (${pct(c.statesCovered, c.states)}), transitions ${c.transitionsCovered}/${c.transitions} (${pct(c.transitionsCovered, c.transitions)}), guards exercised false ${c.guardsFalseCovered}/${c.guardsFalse}; ${r.paths.length} generated paths, ${r.paths.reduce((n, p) => n + p.steps.length, 0)} inputs on the real actor host (${esc(r.runtime)}, ${r.hostMs} ms), each restored from its persisted snapshot mid-path (marked ⟲); the oracle also checked all ${r.edges.checked} explored edges on the pure machine (${r.edges.failed.length} disagreements).</p>
<div class="diagram">${svg}</div>
<h3>Traceability: requirement → transitions → tests → result</h3>
<table><thead><tr><th>Requirement</th><th>Text</th><th>Transitions</th><th>Tests</th><th>Result</th></tr></thead><tbody>${trace}</tbody></table>
<h3>Transitions and the tests that covered them</h3>
<table><thead><tr><th>Transition</th><th>Target</th><th>Guard</th><th>Description</th><th>Covered by</th><th>Guard false in</th></tr></thead><tbody>${transitions}</tbody></table>
<h3>States</h3><table><thead><tr><th>State</th><th>Covered by</th></tr></thead><tbody>${states}</tbody></table>
<h3>Generated paths</h3>${paths}
</section>`;
}

/** The OQ report as one self-contained HTML page: run identification, verdict, and per machine its diagram and evidence. */
export function reportHtml(info: RunInfo, verdict: Verdict, machines: { name: string; svg: string }[], results: Map<string, ModelResult>): string {
  const summary = machines.map(({ name }) => {
    const c = verdict.coverage[name];
    return `<tr><td><a href="#m-${esc(name)}">${esc(name)}</a></td><td>${c ? `${c.statesCovered}/${c.states}` : '—'}</td><td>${c ? `${c.transitionsCovered}/${c.transitions}` : '—'}</td><td>${results.get(name)?.paths.length ?? 0}</td></tr>`;
  }).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Phaseline OQ: statechart model-based validation ${esc(info.date)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em;width:100%}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}th{background:#f2f2f2}
.ok{color:#176c2e}.bad{color:#b00020;font-weight:bold}.warn{color:#8a5a00}.src{color:#666;font-size:12px}
.diagram{overflow:auto;border:1px solid #ddd;padding:8px;margin:1em 0;max-height:900px}.diagram svg{max-width:none}
li.restore::before{content:"⟲ restored from snapshot — ";color:#555}section{border-top:2px solid #444;margin-top:2em}
</style></head><body>
<h1>Operational qualification evidence: statechart model-based validation</h1>
<table><tbody>
<tr><th>Run date</th><td>${esc(info.date)}</td></tr><tr><th>Product</th><td>${esc(info.product)}</td></tr>
<tr><th>Source commit</th><td>${esc(info.commit)}</td></tr><tr><th>Configuration version</th><td>${esc(info.configVersion)}</td></tr>
<tr><th>Runtime</th><td>${esc(info.runtime)}</td></tr>
<tr><th>Dependencies</th><td>${Object.entries(info.dependencies).map(([k, v]) => `${esc(k)} ${esc(v)}`).join(', ')}</td></tr>
<tr><th>Verdict</th><td class="${verdict.ok ? 'ok' : 'bad'}" id="verdict">${verdict.ok ? 'PASS: every state and transition of every machine covered; every step matched its requirement' : 'FAIL'}</td></tr>
</tbody></table>
${verdict.problems.length ? `<ul class="bad">${verdict.problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul>` : ''}
<p>Method: test paths are generated from each machine definition with <code>xstate/graph</code> (the shortest path to every reachable state, then for every state node, transition and guard the cheapest path that exercises it); the inputs of each path are appended to the actor's inbox on a real NATS JetStream server and applied by the real actor host, which is stopped halfway through every path and replaced by a new host that restores each actor from its persisted snapshot. Each step's outcome, read back from the persisted snapshot, is checked against requirement data kept apart from the machines (STANDARDS.md tables and the URS lists in <code>test/model/requirements/</code>) and against the pure machine. Coverage counts state nodes and transitions of the definition, not combinations of parallel regions.</p>
<table><thead><tr><th>Machine</th><th>States covered</th><th>Transitions covered</th><th>Paths</th></tr></thead><tbody>${summary}</tbody></table>
${machines.map(({ name, svg }) => machineSection(name, svg, results.get(name))).join('\n')}
</body></html>
`;
}
