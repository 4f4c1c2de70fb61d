import { batchAdapter } from './adapters/batch.ts';
import { modelSuite } from './harness/suite.ts';

modelSuite(batchAdapter);
