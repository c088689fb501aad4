import { quote, Unfit } from './checks.js';
import { alpha2Of, ISO_3166_ALPHA2 } from './countries.js';
import type { FieldSpec, Source, TransformName } from './layout-types.js';

/**
 * Named conversions a layout field may ask for (`transform: <name>`): how one bureau's code for a
 * value differs from the contract's. A transform runs after the field's charset; a value it cannot
 * convert makes the card Invalid with the field named, never a guess. The strict reader asks it
 * whether a value read back is one it could have written.
 */
export interface Transform {
  /** the sources it may be applied to */
  sources: readonly Source[];
  /** the contract's value (charset applied) → the record's; throws Unfit naming the field */
  apply(field: FieldSpec, value: string): string;
  /** whether a non-empty value read from a record is one `apply` can produce */
  produces(value: string): boolean;
  /** what the record holds, for messages */
  output: string;
}

export const TRANSFORMS: Record<TransformName, Transform> = {
  'country-alpha2': {
    sources: ['card.country'],
    apply(field, value) {
      if (!value) return value;
      const alpha2 = alpha2Of(value);
      if (alpha2 === undefined) throw new Unfit(field.name, `${quote(value)} is not an ISO 3166 alpha-3 country code, so it has no alpha-2 code`);
      return alpha2;
    },
    produces: (value) => ISO_3166_ALPHA2.has(value),
    output: 'an ISO 3166 alpha-2 country code',
  },
};
