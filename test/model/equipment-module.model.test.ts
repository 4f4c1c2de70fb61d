import { equipmentModuleAdapter } from './adapters/equipment-module.ts';
import { modelSuite } from './harness/suite.ts';

modelSuite(equipmentModuleAdapter);
