// JSON schemas of hone-auth's inputs, declared once and enforced by Fastify before any handler runs.
// Strings are bounded and free of control characters; ids are decimal strings in a 32-bit range.
const NO_CONTROL = '^[^\\u0000-\\u001f\\u007f]*$';

/** An e-mail address as sent; spaces around it are allowed here and trimmed by `normalizeEmail`. */
export const email = { type: 'string', minLength: 3, maxLength: 254, pattern: '^ *[^\\s@\\u0000-\\u001f\\u007f]{1,64}@[^\\s@\\u0000-\\u001f\\u007f]+\\.[^\\s@\\u0000-\\u001f\\u007f]+ *$' } as const;

/**
 * The one form of an e-mail address that is stored, compared and counted for limits (SPEC §5): trimmed,
 * lower-cased, NFC. Two addresses are the same account exactly when their normalised forms are equal.
 */
export function normalizeEmail(raw: string): string {
  return raw.trim().toLowerCase().normalize('NFC');
}
export const deviceName = { type: 'string', minLength: 1, maxLength: 255, pattern: NO_CONTROL } as const;
export const platform = { type: 'string', minLength: 1, maxLength: 50, pattern: NO_CONTROL } as const;
export const linkToken = { type: 'string', maxLength: 200 } as const;
export const pollToken = { type: 'string', minLength: 1, maxLength: 200 } as const;
/** The e-mailed 6-digit code; spaces and dashes between digits are forgiven (normalised by the route). */
export const emailedCode = { type: 'string', minLength: 1, maxLength: 20 } as const;
/** The matchCode typed into the confirm page (it may be empty: the page then asks for it). */
export const matchCode = { type: 'string', maxLength: 20 } as const;
export const projectKey = { type: 'string', minLength: 1, maxLength: 255, pattern: NO_CONTROL } as const;
export const projectName = { type: 'string', minLength: 1, maxLength: 255, pattern: NO_CONTROL } as const;
export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,9}$' } },
} as const;

/** Parses an id validated by `idParams`; ids beyond the 32-bit column range simply match nothing. */
export function idOf(params: unknown): number {
  return Number((params as { id: string }).id);
}
