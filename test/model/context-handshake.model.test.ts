import { contextHandshakeAdapter } from './adapters/context-handshake.ts';
import { modelSuite } from './harness/suite.ts';

modelSuite(contextHandshakeAdapter);
