// hone-auth's error mapping: the shared one (common/http-errors.ts) plus the database being down → 503.
// Routes import HttpError and errorBody from here.
import { isUnavailable } from './db/database.ts';
import type { Classified } from '../common/http-errors.ts';
import { classify as classifyAny, makeErrorHandler } from '../common/http-errors.ts';

export { clientErrorHandler, errorBody, HttpError, notFoundHandler } from '../common/http-errors.ts';

const databaseDown = (err: unknown): Classified | null =>
  isUnavailable(err) ? [503, 'DATABASE_UNAVAILABLE', 'The database is unavailable; try again shortly.', { 'retry-after': '5' }] : null;

export const classify = (err: unknown): Classified => classifyAny(err, databaseDown);
export const errorHandler = makeErrorHandler(databaseDown);
