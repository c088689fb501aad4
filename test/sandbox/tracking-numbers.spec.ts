import assert from 'node:assert/strict';
import fc from 'fast-check';
import { makeCalendar } from '../../src/calendar/index.js';
import { bureauSettingsSchema } from '../../src/sandbox/settings.js';
import { makeDecider } from '../../src/sandbox/decide.js';
import { maskPansInText } from '../../src/security/mask.js';

/**
 * The sandbox's tracking numbers must come back from the receive job as they were sent: the receive
 * side masks every PAN-like run of digits (12–19, and 20 or more) in report text, and the demo
 * compares each stored tracking number with the report's. DHL Express numbers were JD01 + 18 digits
 * (a 20-digit run): once such runs were masked, `npm run demo` failed on every such card.
 */
describe('sandbox tracking numbers', function () {
  it('never hold a run of digits the receive side would mask, whatever the seed, file and delivery method', function () {
    const calendar = makeCalendar({ workingDays: [1, 2, 3, 4, 5], extraHolidays: [], extraBusinessDays: [] } as never);
    fc.assert(fc.property(
      fc.integer({ min: -1e15 + 1, max: 1e15 - 1 }), fc.constantFrom('1', '2', '3', '4', '9'), fc.stringMatching(/^[A-Z0-9_.]{1,40}$/),
      (seed, deliveryMethod, fileName) => {
        const settings = bureauSettingsSchema.parse({ seed, rejectRate: 0, shipRate: 1 });
        const decider = makeDecider({ settings, calendar, reportDate: '2026-12-07', fileName, stock: new Map() });
        for (let i = 1; i <= 20; i++) {
          const { shipment } = decider.decide({ recordSequence: i, contractId: String(i), plasticId: String(i), productCode: 'CLASSIC01', deliveryMethod });
          assert.ok(shipment?.trackingNumber, 'shipped today, with a tracking number');
          assert.equal(maskPansInText(shipment.trackingNumber), shipment.trackingNumber);
        }
      },
    ), { numRuns: 300 });
  });
});
