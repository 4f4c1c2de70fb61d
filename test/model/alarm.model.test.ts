import { alarmAdapter } from './adapters/alarm.ts';
import { modelSuite } from './harness/suite.ts';

modelSuite(alarmAdapter);
