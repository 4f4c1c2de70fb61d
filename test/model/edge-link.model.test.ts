import { edgeLinkAdapter } from './adapters/edge-link.ts';
import { modelSuite } from './harness/suite.ts';

modelSuite(edgeLinkAdapter);
