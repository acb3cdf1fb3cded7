// The one error body of SPEC §5 and the mapping of every failure (ours, Fastify's, the HTTP parser's) onto it,
// for both HTTP services. Nothing reaches a client as a bare 500 or as Fastify's default error shape.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';

export type Classified = [number, string, string, Record<string, string>];

export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export function errorBody(code: string, message: string): { ok: false; error: { code: string; message: string } } {
  return { ok: false, error: { code, message } };
}

const FASTIFY_CODES: Record<string, [number, string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'BODY_TOO_LARGE', 'The request body is too large.'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json.'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'BAD_REQUEST', 'The JSON body is empty.'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'INVALID_JSON', 'The body is not valid JSON.'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'BAD_REQUEST', 'Content-Length does not match the body.'],
  FST_ERR_CTP_INVALID_TYPE: [400, 'BAD_REQUEST', 'The Content-Type header is not valid.'],
  FST_ERR_BAD_URL: [400, 'BAD_REQUEST', 'The URL is not valid.'],
  FST_ERR_MAX_PARAM_LENGTH: [414, 'URI_TOO_LONG', 'A path segment of the URL is too long.'],
  FST_ERR_ASYNC_CONSTRAINT: [400, 'BAD_REQUEST', 'The request is not valid.'],
};

/** Classifies any thrown value as [status, code, message, headers]; `extra` recognises a program's own failures. */
export function classify(err: unknown, extra?: (err: unknown) => Classified | null): Classified {
  if (err instanceof HttpError) return [err.status, err.code, err.message, err.headers];
  const fe = err as Partial<FastifyError> & { validationContext?: string };
  if (fe && Array.isArray(fe.validation)) {
    const first = fe.validation[0];
    const where = fe.validationContext ?? 'request';
    const field = first?.instancePath ? first.instancePath.replace(/^\//, '').replace(/\//g, '.') : (first?.params as { missingProperty?: string })?.missingProperty;
    return [400, 'BAD_REQUEST', `Invalid ${where}${field ? ` field "${field}"` : ''}: ${first?.message ?? 'not valid'}.`, {}];
  }
  if (fe?.code && FASTIFY_CODES[fe.code]) {
    const [s, c, m] = FASTIFY_CODES[fe.code];
    return [s, c, m, {}];
  }
  if (err instanceof SyntaxError) return [400, 'INVALID_JSON', 'The body is not valid JSON.', {}];
  const own = extra?.(err);
  if (own) return own;
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) return [status, 'BAD_REQUEST', 'The request is not valid.', {}];
  return [500, 'INTERNAL', 'Something went wrong on our side; it has been logged.', {}];
}

export function makeErrorHandler(extra?: (err: unknown) => Classified | null) {
  return function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
    const [status, code, message, headers] = classify(err, extra);
    if (status >= 500) request.log.error({ err, code }, 'request failed');
    reply.code(status).headers(headers).type('application/json; charset=utf-8').send(errorBody(code, message));
  };
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  reply.code(404).send(errorBody('NOT_FOUND', `No such endpoint: ${request.method} ${request.url.split('?')[0].slice(0, 200)}`));
}

const PARSER_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'HEADERS_TOO_LARGE', 'The request line or headers are too large.'],
  HPE_URI_TOO_LONG: [414, 'URI_TOO_LONG', 'The URL is too long.'],
};

/** Answers requests Node's HTTP parser rejects with the standard body instead of a bare 400. */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, message] = PARSER_ERRORS[err.code ?? ''] ?? [400, 'BAD_REQUEST', 'The request could not be parsed.'];
  const body = JSON.stringify(errorBody(code, message));
  const reason = status === 431 ? 'Request Header Fields Too Large' : status === 414 ? 'URI Too Long' : 'Bad Request';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** Fastify's trustProxy for one reverse proxy: trust only the direct peer, so the client is the entry it appended. */
export const trustOneProxy = (_address: string, hop: number): boolean => hop === 0;
