/**
 * The one place that reads fastify's private state (fastify is pinned in package.json; the probe
 * below is run by test/cpu/server-internals.test.ts against the installed version, and names
 * what moved when an upgrade changes it).
 *
 * What is read: a request's route context, under the symbol whose description is
 * 'fastify.context' (lib/symbols.js kRouteContext), and in it the route's hooks
 * (onRequest, preParsing, ... as arrays of functions, or null), its content-type parser
 * (contentTypeParser.customParsers: a Map from content type to { fn }) and its error handler
 * (errorHandler.func). Fastify has no public API that tells which hooks, parsers and error handler
 * a route will run (request.routeOptions carries none of them); http.ts needs that to know when
 * it may answer an inference request without fastify's lifecycle.
 */
import type { FastifyRequest } from 'fastify';

/** The name of the private field read, for messages. */
export const FASTIFY_ROUTE_CONTEXT = "request[Symbol('fastify.context')]";

/** The lifecycle hooks of a route context after onRequest. */
export const LATER_HOOKS = ['preParsing', 'preValidation', 'preHandler', 'preSerialization', 'onSend', 'onResponse', 'onError', 'onTimeout', 'onRequestAbort'] as const;

/** What a route will run, read from its context. */
export interface RouteLifecycle {
  /** names of its onRequest hooks, in order (bound functions are named "bound <name>") */
  onRequest: string[];
  /** does it have any hook after onRequest? */
  laterHooks: boolean;
  /** its content-type parsers: content type → parser function */
  parsers: Map<string, unknown>;
  /** the name of its error handler function */
  errorHandler: string | undefined;
}

let contextSymbol: symbol | null | undefined = null;

/** The route context object of `req`, or undefined where it cannot be found. */
function routeContext(req: FastifyRequest): Record<string, any> | undefined {
  if (contextSymbol === null) contextSymbol = Object.getOwnPropertySymbols(req).find((sym) => sym.description === 'fastify.context');
  const ctx = contextSymbol === undefined ? undefined : (req as unknown as Record<symbol, unknown>)[contextSymbol];
  return ctx !== null && typeof ctx === 'object' ? (ctx as Record<string, any>) : undefined;
}

const lifecycles = new WeakMap<object, RouteLifecycle | null>();

/**
 * The lifecycle of `req`'s route (cached per route context), or undefined when the context or one
 * of its fields is not what this module knows: the caller then runs the request through fastify.
 */
export function routeLifecycle(req: FastifyRequest): RouteLifecycle | undefined {
  const ctx = routeContext(req);
  if (ctx === undefined) return undefined;
  let life = lifecycles.get(ctx);
  if (life === undefined) {
    life = readLifecycle(ctx);
    lifecycles.set(ctx, life);
  }
  return life ?? undefined;
}

function readLifecycle(ctx: Record<string, any>): RouteLifecycle | null {
  const onRequest = ctx.onRequest as unknown;
  if (onRequest !== null && !Array.isArray(onRequest)) return null;
  if (!LATER_HOOKS.every((h) => ctx[h] === null || Array.isArray(ctx[h]))) return null;
  const parsers = ctx.contentTypeParser?.customParsers as unknown;
  if (!(parsers instanceof Map)) return null;
  const func = ctx.errorHandler?.func as unknown;
  return {
    onRequest: ((onRequest as Array<{ name?: string }> | null) ?? []).map((h) => h?.name ?? ''),
    laterHooks: LATER_HOOKS.some((h) => ctx[h] !== null && ctx[h].length > 0),
    parsers: new Map([...(parsers as Map<string, { fn?: unknown }>)].map(([type, p]) => [type, p?.fn])),
    errorHandler: typeof func === 'function' ? func.name : undefined,
  };
}

/**
 * Check, on a fastify instance built here, that the private state read above is where this module
 * expects it: an empty list when it is, else one line per thing that moved, naming it.
 */
export async function probeFastifyInternals(): Promise<string[]> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  const problems: string[] = [];
  const parser = (_req: unknown, _payload: unknown, done: (err: Error | null, body?: unknown) => void): void => done(null, undefined);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', parser);
  app.setErrorHandler(function probeErrors(_err, _req, reply) {
    void reply.code(500).send();
  });
  let seen: RouteLifecycle | undefined | 'not called' = 'not called';
  let found = false;
  app.post('/probe', { onRequest: [function probeHook(req, _reply, done) {
    found = routeContext(req) !== undefined;
    seen = routeLifecycle(req);
    done();
  }] }, async () => ({}));
  try {
    await app.inject({ method: 'POST', url: '/probe', payload: '{}' });
  } finally {
    await app.close();
  }
  const life = seen as RouteLifecycle | undefined | 'not called';
  if (life === 'not called') return ['fastify did not run a route onRequest hook'];
  if (!found) return [`${FASTIFY_ROUTE_CONTEXT} is not on the request: fastify's route context symbol moved`];
  if (life === undefined) return [`${FASTIFY_ROUTE_CONTEXT} no longer holds onRequest/${LATER_HOOKS.join('/')} as arrays or null, contentTypeParser.customParsers as a Map, errorHandler.func`];
  if (life.onRequest[life.onRequest.length - 1] !== 'bound probeHook') problems.push(`${FASTIFY_ROUTE_CONTEXT}.onRequest does not end with the route's own hook (got ${JSON.stringify(life.onRequest)})`);
  if (life.laterHooks) problems.push(`${FASTIFY_ROUTE_CONTEXT} reports later hooks on a route that has none`);
  if (life.parsers.size !== 1 || life.parsers.get('') !== parser) problems.push(`${FASTIFY_ROUTE_CONTEXT}.contentTypeParser.customParsers does not map '' (the '*' parser) to its function`);
  if (life.errorHandler !== 'bound probeErrors') problems.push(`${FASTIFY_ROUTE_CONTEXT}.errorHandler.func is not the instance's error handler (got ${JSON.stringify(life.errorHandler)})`);
  return problems;
}
