import * as bucketflow from '../src/index.js';
import { behaviourDrivers } from './cases/local-drivers.js';
import { runBehaviourCases } from './cases/run-cases.js';

for (const driver of behaviourDrivers(bucketflow)) runBehaviourCases(driver);
