import { z } from 'zod';
import { DIAGRAM_FORMATS, getMachineModel, machineNames, renderDiagram } from '../../diagrams/index.ts';
import type { PhaselineApp } from '../app.ts';
import { ErrorSchema } from '../error-handler.ts';

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
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema };

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
export function registerMachineRoutes(app: PhaselineApp): void {
  app.get('/api/v1/machines', {
    onRequest: app.requirePermission('diagrams.read'),
    schema: { response: { 200: z.array(Machine), ...errors } },
  }, async () => machineNames().map(summary));

  app.get('/api/v1/machines/:name/diagram', {
    onRequest: app.requirePermission('diagrams.read'),
    schema: {
      params: z.object({ name: z.string().min(1).max(200) }),
      querystring: z.object({
        format: z.enum(DIAGRAM_FORMATS).optional().describe(
          'mermaid (text/vnd.mermaid, the default), scxml (application/scxml+xml), svg (image/svg+xml, laid out by ELK) '
          + 'or json (the plain model)'),
      }),
      response: errors,
    },
  }, async (req, reply) => {
    const { contentType, body } = await renderDiagram(req.params.name, req.query.format ?? 'mermaid');
    // The body is text in its own media type: no 200 schema, so the JSON serializer leaves it alone.
    return reply.type(contentType).send(body as never);
  });
}
