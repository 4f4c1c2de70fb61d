import { unitAdapter } from './adapters/unit.ts';
import { modelSuite } from './harness/suite.ts';

modelSuite(unitAdapter);
