// What a peer chose (file names, device labels, message payloads), made safe to print on a terminal: control and
// invisible format characters escaped, so it cannot move the cursor, erase a line or fake a status line.

/** C0/C1 controls, DEL, invisible format and bidi characters, line/paragraph separators: never printed as they are. */
const UNPRINTABLE = '\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u200b-\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2060-\\u206f\\ufeff';
const TEXT = new RegExp(`[\\\\${UNPRINTABLE}]`, 'gu');
const IN_JSON = new RegExp(`[${UNPRINTABLE}]`, 'gu');

const hex = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** Text with control characters (ESC, CR, LF…), invisible format characters and backslashes written as escapes. */
export function printable(text: string): string {
  return String(text).replace(TEXT, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '\r') return '\\r';
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    return hex(c);
  });
}

/** A JSON value as one printable line: JSON.stringify, with what it leaves raw (C1, bidi, U+2028…) as \uXXXX escapes. */
export function printableJson(value: unknown): string {
  return String(JSON.stringify(value)).replace(IN_JSON, hex);
}
