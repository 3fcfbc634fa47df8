import { describe, expect, it } from 'vitest';
import { RateLimitExceeded } from '../../src/index.js';
import { behaviourCases, type CaseDriver } from './behaviour-cases.js';
import { runCase } from './case-steps.js';

/** Defines one test per case of the shared behaviour table for `driver`. */
export function runBehaviourCases(driver: CaseDriver): void {
  describe(`behaviour cases: ${driver.name}`, () => {
    for (const c of behaviourCases) {
      if (c.blocking && !driver.canBlock) continue; // the sync driver has its own blocking tests
      const run = () => runCase(driver, c, { expect, RateLimitExceeded });
      const deviation = driver.deviations?.[c.name];
      if (deviation === undefined) it(c.name, run);
      else it(`${c.name} — differs by design: ${deviation}`, () => expect(run()).rejects.toThrow());
    }
  });
}
