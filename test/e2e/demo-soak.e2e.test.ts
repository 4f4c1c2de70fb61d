import { defineDemoSoak } from '../helpers/demo-soak.ts';

// The short run of the demo soak in the normal suite (the ten-minute one is test/long/demo-soak.long.ts).
defineDemoSoak(Number(process.env.PHASELINE_SOAK_SHORT_MS ?? 60_000));
