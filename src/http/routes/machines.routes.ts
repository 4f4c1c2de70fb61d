import { z } from 'zod';
import { DIAGRAM_FORMATS, getMachineModel, machineNames, renderDiagram } from '../../diagrams/index.ts';
import type { PhaselineApp } from '../app.ts';
import { readErrors } from '../openapi-errors.ts';

const TransitionSummary = z.object({
  source: z.string(),
  event: z.string(),
  target: z.string().optional(),
  targets: z.array(z.string()).optional(),
  guard: z.string().optional(),
});
const Machine = z.object({
  name: z.string(),
  version: z.union([z.number(), z.string()]),
  states: z.array(z.string()).describe('state ids (paths joined by dots), in document order'),
  transitions: z.array(TransitionSummary).describe('every transition; `source` is the machine name for root handlers'),
});

/** One machine as listed by `GET /machines`: state ids and transition summaries (no actions or meta). */
function summary(name: string): z.infer<typeof Machine> {
  const m = getMachineModel(name);
  return {
    name, version: m.version,
    states: m.states.map((s) => s.id),
    transitions: m.transitions.map(({ source, event, target, targets, guard }) => ({
      source, event, ...(target === undefined ? {} : { target }), ...(targets ? { targets } : {}),
      ...(guard === undefined ? {} : { guard }),
    })),
  };
}

/** Statechart routes (CONTRACT.md §2 `GET /machines`, `GET /machines/:name/diagram`): the design spec as diagrams. */
export async function registerMachineRoutes(app: PhaselineApp): Promise<void> {
  app.get('/api/v1/machines', {
    onRequest: app.requirePermission('diagrams.read'),
    schema: { summary: 'Every statechart definition with its states and transitions', operationId: 'listMachines', response: { 200: z.array(Machine), ...readErrors() } },
  }, async () => machineNames().map(summary));

  app.get('/api/v1/machines/:name/diagram', {
    onRequest: app.requirePermission('diagrams.read'),
    schema: {
      summary: 'One statechart as Mermaid, SCXML, SVG or its JSON model', operationId: 'getMachineDiagram',
      params: z.object({ name: z.string().min(1).max(200) }),
      querystring: z.object({
        format: z.enum(DIAGRAM_FORMATS).optional().describe(
          'mermaid (text/vnd.mermaid, the default), scxml (application/scxml+xml), svg (image/svg+xml, laid out by ELK) '
          + 'or json (the plain model)'),
      }),
      response: {
        200: {
          description: 'the diagram in the requested format',
          content: {
            'text/vnd.mermaid': { schema: z.string() }, 'application/scxml+xml': { schema: z.string() },
            'image/svg+xml': { schema: z.string() }, 'application/json': { schema: z.looseObject({}) },
          },
        },
        ...readErrors(400, 404),
      },
    },
  }, async (req, reply) => {
    const { contentType, body } = await renderDiagram(req.params.name, req.query.format ?? 'mermaid');
    // The body is text in its own media type, sent as it is: fastify serializes no string (the 200 schemas only document it).
    return reply.type(contentType).send(body as never);
  });
}
