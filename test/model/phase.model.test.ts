import { phaseAdapter } from './adapters/phase.ts';
import { modelSuite } from './harness/suite.ts';

modelSuite(phaseAdapter);
