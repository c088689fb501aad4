import assert from 'node:assert/strict';
import type { ContractListing } from '../../src/db/contracts.js';
import type { AnsweredFile } from '../../src/sandbox/bureau.js';
import { checkFinalStates } from '../../src/sandbox/demo-check.js';

const FILE = 'BXISSUER_PERSO_20261126_000001.dat.pgp';

function contract(n: number, overrides: Partial<ContractListing>): ContractListing {
  return {
    id: n, contractNumber: String(n), plasticId: String(500 + n), panEnc: '', panLast4: '', status: 'Shipped', rejectCode: null, reason: null,
    batchFile: FILE, expectedShipDate: '2026-11-27', shipDate: null, courier: 'DHL EXPRESS', trackingNumber: null, ...overrides,
  };
}

const answer: AnsweredFile = {
  bureau: 'BUREAU01', sourceFile: FILE, reportName: 'BXISSUER_REPORT_20261126_000001.xml.rsa', accepted: true, recordsReceived: 2, signatureVerified: true,
  rejected: 1, shipped: 0, expected: 1, stock: [],
  decisions: {
    rejections: [{ recordSequence: 1, cardContractId: '000000000000001', plasticId: '000000000501', code: '012', reason: 'Unregistered plastic' }],
    shipments: [{ recordSequence: 2, cardContractId: '000000000000002', plasticId: '000000000502', expectedShipDate: '2026-11-27', shipDate: null, courier: 'DHL EXPRESS', trackingNumber: '' }],
    stock: [],
  },
};

describe('demo final-state check', function () {
  const rejected = contract(1, { status: 'Rejected', rejectCode: '012', reason: 'Unregistered plastic' });
  const shipped = contract(2, {});
  const invalid = contract(3, { status: 'Invalid', rejectCode: 'INVALID', reason: 'pan: fails the Luhn check', batchFile: null });

  it('accepts cards that are exactly as reported, and Invalid ones with a reason', function () {
    assert.deepEqual(checkFinalStates([rejected, shipped, invalid], [answer]), { consistent: true, problems: [], problemCount: 0 });
  });

  it('finds a card left in production, a wrong code, a wrong date and a card the bureau named but we do not have', function () {
    const result = checkFinalStates([
      contract(1, { status: 'Rejected', rejectCode: '021', reason: 'x' }),
      contract(2, { expectedShipDate: '2026-11-30' }),
      contract(4, { status: 'InProduction' }),
    ], [{ ...answer, decisions: { ...answer.decisions!, shipments: [...answer.decisions!.shipments, { ...answer.decisions!.shipments[0]!, cardContractId: '9', plasticId: '9' }] } }]);
    assert.equal(result.consistent, false);
    assert.equal(result.problemCount, 4);
    assert.match(result.problems.join('\n'), /rejected with code 021, the bureau said 012/);
    assert.match(result.problems.join('\n'), /differs from the report/);
    assert.match(result.problems.join('\n'), /contract 4 plastic 504 is InProduction, but the bureau never reported it/);
    assert.match(result.problems.join('\n'), /reported 9\/9, which is not in the database/);
  });

  it('expects the cards of a report not received still InProduction in their file, and says so when one is not', function () {
    const waiting = [contract(1, { status: 'InProduction' }), contract(2, { status: 'InProduction' }), invalid];
    assert.deepEqual(checkFinalStates(waiting, [], [answer]), { consistent: true, problems: [], problemCount: 0 });
    const result = checkFinalStates([rejected, contract(2, { status: 'InProduction', batchFile: 'OTHER.pgp' }), invalid], [], [answer]);
    assert.equal(result.problemCount, 2);
    assert.match(result.problems.join('\n'), /contract 1 plastic 501 is Rejected, but the bureau's report on it was not received/);
    assert.match(result.problems.join('\n'), /contract 2 plastic 502 was reported for .*, but is in batch OTHER\.pgp/);
  });
});
