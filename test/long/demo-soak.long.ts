import { defineDemoSoak } from '../helpers/demo-soak.ts';

// `npm run test:long`: the demo for 10 minutes (PHASELINE_SOAK_MS to change it); outside `npm test` and CI's budget.
defineDemoSoak(Number(process.env.PHASELINE_SOAK_MS ?? 600_000));
