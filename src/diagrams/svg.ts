import type { DiagramTransition, MachineModel } from './model.ts';
import { HEADER_HEIGHT, layoutMachine, type DiagramLayout, type PlacedEdge, type PlacedState, type Point } from './svg-layout.ts';
import { FONT, metaClause, textWidth, transitionLabel } from './svg-text.ts';

/** Text or an attribute value safe in XML (W3C XML 1.0 §2.4 character data, §3.1 attribute values). */
export function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&${({ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' } as const)[c as '&']};`)
    // Characters XML 1.0 forbids outright (C0 controls but tab, LF, CR) are dropped rather than emitted.
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '');
}

/** A coordinate with at most one decimal, so output is compact and stable across platforms. */
const n = (value: number): string => String(Math.round(value * 10) / 10);

const STYLE = [
  'text{font-family:"Helvetica Neue",Helvetica,Arial,"DejaVu Sans",sans-serif;fill:#1f2933}',
  '.state rect{fill:#eef4fb;stroke:#3b6ea5;stroke-width:1.4}',
  '.state.compound>rect,.state.parallel>rect{fill:#f8fafc}',
  '.state.region>rect{fill:none;stroke:#7b8794;stroke-dasharray:6 4}',
  '.state.final>rect{fill:#f3f4f6;stroke:#1f2933}',
  `.name{font-size:${FONT.name}px;font-weight:bold}`,
  '.region>.name{font-weight:normal;font-style:italic;fill:#52606d}',
  `.clause{font-size:${FONT.clause}px;fill:#52606d}`,
  '.transition path,.initial path{fill:none;stroke:#52606d;stroke-width:1.2}',
  `.transition text{font-size:${FONT.edge}px}`,
  '.transition .bg{fill:#ffffff;fill-opacity:0.85;stroke:none}',
  `.panel text{font-size:${FONT.panel}px}`,
  `.panel .heading{font-size:${FONT.heading}px;font-weight:bold}`,
  `.title{font-size:${FONT.title}px;font-weight:bold}`,
  `.legend text,.subtitle{font-size:${FONT.clause + 1}px;fill:#52606d}`,
].join('');

/** The hover text of a state or transition: its description and standard clause, or its plain name. */
function hover(fallback: string, meta: Record<string, unknown> | undefined): string {
  const description = typeof meta?.description === 'string' ? meta.description : undefined;
  const clause = metaClause(meta);
  return [fallback, description, clause].filter(Boolean).join(' — ');
}

function transitionHover(t: DiagramTransition): string {
  const target = t.target ? ` → ${(t.targets ?? [t.target]).join(', ')}` : ' (no state change)';
  const actions = t.actions.length > 0 ? ` / ${t.actions.join(', ')}` : '';
  return hover(`${t.source}: ${transitionLabel(t)}${target}${actions}`, t.meta);
}

function renderState(s: PlacedState): string[] {
  const cls = `state ${s.kind}`;
  const leaf = s.kind === 'atomic' || s.kind === 'final';
  const lines = [
    `<g class="${cls}" data-state="${escapeXml(s.state.id)}">`,
    `<title>${escapeXml(hover(s.state.id, s.state.meta))}</title>`,
    `<rect x="${n(s.x)}" y="${n(s.y)}" width="${n(s.width)}" height="${n(s.height)}" rx="${s.kind === 'region' ? 4 : 8}"/>`,
  ];
  if (s.kind === 'final') {
    lines.push(`<rect x="${n(s.x + 3)}" y="${n(s.y + 3)}" width="${n(s.width - 6)}" height="${n(s.height - 6)}" rx="6"/>`);
  }
  if (leaf) {
    const nameY = s.clause ? s.y + 18 : s.y + s.height / 2 + 4.5;
    lines.push(`<text class="name" x="${n(s.x + s.width / 2)}" y="${n(nameY)}" text-anchor="middle">${escapeXml(s.name)}</text>`);
    if (s.clause) lines.push(`<text class="clause" x="${n(s.x + s.width / 2)}" y="${n(s.y + 33)}" text-anchor="middle">${escapeXml(s.clause)}</text>`);
  } else {
    const nameY = s.kind === 'region' ? s.y + 16 : s.y + 19;
    lines.push(`<text class="name" x="${n(s.x + 10)}" y="${n(nameY)}">${escapeXml(s.name)}</text>`);
    if (s.clause && s.kind !== 'region') lines.push(`<text class="clause" x="${n(s.x + 10)}" y="${n(s.y + 33)}">${escapeXml(s.clause)}</text>`);
  }
  lines.push('</g>');
  return lines;
}

const pathData = (points: Point[]) => points.map((p, i) => `${i === 0 ? 'M' : 'L'}${n(p.x)} ${n(p.y)}`).join(' ');

function renderEdge(e: PlacedEdge, model: MachineModel, arrow: string): string[] {
  if (e.kind === 'initial') {
    return [`<g class="initial"><path d="${pathData(e.points)}" marker-end="url(#${arrow})"/></g>`];
  }
  const t = model.transitions[e.index!]!;
  const lines = [
    `<g class="transition" data-t="${e.index}" data-source="${escapeXml(e.source)}" data-target="${escapeXml(e.target)}">`,
    `<title>${escapeXml(transitionHover(t))}</title>`,
    `<path d="${pathData(e.points)}" marker-end="url(#${arrow})"/>`,
  ];
  if (e.label) {
    const { x, y, width, height, text } = e.label;
    lines.push(`<rect class="bg" x="${n(x)}" y="${n(y)}" width="${n(width)}" height="${n(height)}"/>`,
      `<text x="${n(x + 2)}" y="${n(y + height - 4)}">${escapeXml(text)}</text>`);
  }
  lines.push('</g>');
  return lines;
}

function renderPanel(layout: DiagramLayout, model: MachineModel): string[] {
  if (layout.panel.length === 0) return [];
  const lines = ['<g class="panel">'];
  for (const row of layout.panel) {
    if (row.index === undefined) {
      lines.push(`<text class="heading" x="${n(row.x)}" y="${n(row.y)}">${escapeXml(row.text)}</text>`);
    } else {
      const t = model.transitions[row.index]!;
      lines.push(`<text class="handler" data-t="${row.index}" x="${n(row.x + 10)}" y="${n(row.y)}"><title>${escapeXml(transitionHover(t))}</title>${escapeXml(row.text)}</text>`);
    }
  }
  lines.push('</g>');
  return lines;
}

function renderHeader(model: MachineModel, width: number, arrow: string): string[] {
  const description = typeof model.meta?.description === 'string' ? model.meta.description : '';
  const clause = metaClause(model.meta);
  const subtitle = [description, clause].filter(Boolean).join(' — ');
  const ly = HEADER_HEIGHT - 6;
  return [
    '<g class="legend">',
    `<text class="title" x="16" y="26">${escapeXml(`${model.name} — machine version ${model.version}`)}</text>`,
    ...(subtitle ? [`<text class="subtitle" x="16" y="42">${escapeXml(subtitle)}</text>`] : []),
    `<circle cx="22" cy="${ly - 4}" r="5" fill="#1f2933"/><text x="32" y="${ly}">initial</text>`,
    `<rect x="80" y="${ly - 11}" width="22" height="14" rx="4" fill="#eef4fb" stroke="#3b6ea5"/><text x="108" y="${ly}">state</text>`,
    `<rect x="146" y="${ly - 11}" width="22" height="14" rx="4" fill="#f3f4f6" stroke="#1f2933"/><rect x="148.5" y="${ly - 8.5}" width="17" height="9" rx="3" fill="none" stroke="#1f2933"/><text x="174" y="${ly}">final</text>`,
    `<rect x="210" y="${ly - 11}" width="22" height="14" rx="3" fill="none" stroke="#7b8794" stroke-dasharray="4 3"/><text x="238" y="${ly}">parallel region</text>`,
    `<path d="M330 ${ly - 4} L360 ${ly - 4}" stroke="#52606d" marker-end="url(#${arrow})"/><text x="366" y="${ly}">EVENT [guard]; hover for the description</text>`,
    `<line x1="0" y1="${HEADER_HEIGHT}" x2="${width}" y2="${HEADER_HEIGHT}" stroke="#cbd2d9"/>`,
    '</g>',
  ];
}

/**
 * Renders a machine model as a self-contained SVG statechart (UML state machine notation, W3C SVG 1.1): states as
 * rounded boxes nested in their parents, parallel regions as dashed boxes, initial-state dots, final states with a
 * double border, transitions as arrows labelled `EVENT [guard]`. Targetless transitions and handlers on the machine
 * root are listed beside the graph. Descriptions are `<title>` hover text. The same model gives the same bytes.
 */
export async function toSvg(model: MachineModel): Promise<string> {
  const layout = await layoutMachine(model);
  const width = Math.max(layout.width, textWidth(`${model.name} — machine version ${model.version}`, FONT.title, true) + 32, 620);
  const arrow = `${model.name.replace(/[^A-Za-z0-9_-]/g, '_')}-arrow`;
  const states = [...layout.states].sort((a, b) => a.state.path.length - b.state.path.length);
  const lines = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${layout.height}" viewBox="0 0 ${width} ${layout.height}">`,
    `<title>${escapeXml(`${model.name} statechart (machine version ${model.version})`)}</title>`,
    `<defs><marker id="${arrow}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#52606d"/></marker></defs>`,
    `<style>${STYLE}</style>`,
    `<rect width="${width}" height="${layout.height}" fill="#ffffff"/>`,
    ...renderHeader(model, width, arrow),
    // Outer states first so nested ones paint on top; edges last so they cross over boxes visibly.
    ...states.flatMap(renderState),
    ...layout.initials.map((p) => `<circle class="initial-marker" cx="${n(p.x)}" cy="${n(p.y)}" r="6" fill="#1f2933"/>`),
    ...layout.edges.flatMap((e) => renderEdge(e, model, arrow)),
    ...renderPanel(layout, model),
    '</svg>',
  ];
  return `${lines.join('\n')}\n`;
}
