import { exceptionAdapter } from './adapters/exception.ts';
import { modelSuite } from './harness/suite.ts';

modelSuite(exceptionAdapter);
