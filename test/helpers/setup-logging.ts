import { setLogLevel } from '../../src/log.ts';

// Tests log warnings and errors only; failures carry their own detail.
setLogLevel(process.env.PHASELINE_TEST_LOG_LEVEL ?? 'warn');
