// The one path policy of `hone-sync mirror`, for every path a peer names and every path it sends: reserved names compared
// case-folded (NFC + case fold) at any depth, and what git's verify_path refuses for NTFS and HFS+, plus plain-path rules.

/** Folder names never synced, at any depth, compared case-folded (.GIT is .git on macOS and Windows). */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(['.git', 'node_modules', '.hone-sync']);
/** The mirror's own folder inside the mirrored one (index, lock, temporary files). */
export const STATE_DIR = '.hone-sync';

const MAX_PATH = 4096;
const MAX_SEGMENT_BYTES = 255;

/**
 * Code points HFS+ ignores in names (git's is_hfs_dotgit list) and other invisible format characters: a name
 * holding one can be another name on some file system, or look like one on a screen.
 */
const IGNORABLE = /[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8]/u;
/** C0 and C1 control characters and DEL. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;
/** Characters Windows refuses in names (git's protectNTFS), ':' included (alternate data streams). */
const NTFS_FORBIDDEN = /[<>:"|?*\\]/;
/** DOS device names, refused with any extension and trailing spaces (CON, nul.txt, "COM1 .log"). */
const DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$|clock\$)$/;
/** 8.3 short names (GIT~1, NODE_M~1, HONE-S~1): on NTFS they may name a reserved folder. */
const SHORT_NAME = /^[^.]{1,8}~[0-9]+(\.[^.]*)?$/;

/** NFC, then full case folding (upper then lower: 'ß' → 'ss', 'K' (Kelvin) → 'k'). */
export function fold(name: string): string {
  return name.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC');
}

/** Whether a segment names a reserved folder on some file system (case, trailing dots/spaces, ignorables, 8.3). */
export function isReservedSegment(segment: string): boolean {
  const f = fold(segment.replace(new RegExp(IGNORABLE.source, 'gu'), '')).replace(/[. ]+$/, '');
  if (RESERVED_NAMES.has(f)) return true;
  return SHORT_NAME.test(f) && [...RESERVED_NAMES].some((r) => f.startsWith(r.replace(/^\./, '').slice(0, 6).replace(/[. ]/g, '')));
}

/** Whether any segment of a '/'-separated path is reserved (what a walk and the watcher skip quietly). */
export function isIgnored(rel: string): boolean {
  return rel.split('/').some(isReservedSegment);
}

/** Why one segment cannot be written on every file system, or null when it can. */
function segmentProblem(seg: string): string | null {
  if (seg === '' || seg === '.' || seg === '..') return 'an empty, "." or ".." segment';
  if (isReservedSegment(seg)) return `"${seg}" is a reserved folder (${[...RESERVED_NAMES].join(', ')}) on some file systems`;
  if (CONTROL.test(seg)) return 'a control character';
  if (IGNORABLE.test(seg)) return 'an invisible (ignorable) character';
  if (NTFS_FORBIDDEN.test(seg)) return 'a character Windows forbids (< > : " | ? * \\)';
  if (/[. ]$/.test(seg)) return 'a trailing dot or space (Windows drops it)';
  if (DEVICE.test(fold(seg).split('.')[0].replace(/ +$/, ''))) return 'a Windows device name (CON, NUL, COM1…)';
  if (SHORT_NAME.test(seg)) return 'an 8.3 short name (NAME~1)';
  if (Buffer.byteLength(seg) > MAX_SEGMENT_BYTES) return `a name over ${MAX_SEGMENT_BYTES} bytes`;
  return null;
}

/**
 * Why a relative path cannot be synced — from a peer or to one — or null when it can: '/'-separated, relative,
 * no backslash, every segment acceptable on Linux, macOS and Windows alike, at most 4096 characters.
 */
export function pathProblem(rel: unknown): string | null {
  if (typeof rel !== 'string' || rel.length === 0) return 'not a path';
  if (rel.length > MAX_PATH) return `longer than ${MAX_PATH} characters`;
  if (rel.startsWith('/') || /^[A-Za-z]:/.test(rel)) return 'an absolute path';
  if (rel.includes('\\')) return 'a backslash';
  for (const seg of rel.split('/')) {
    const problem = segmentProblem(seg);
    if (problem) return problem;
  }
  return null;
}

export function isSafeRelPath(rel: unknown): rel is string {
  return pathProblem(rel) === null;
}
