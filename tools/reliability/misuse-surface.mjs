// What the API misuse fuzzer calls: the native addon's exports, enumerated from the loaded
// module (so that a new class, method or accessor is fuzzed without a change here), checked
// against lib/native/binding.ts (the typed description of that surface), whose option names
// also feed the fuzzer's options objects. And the error codes of lib/errors.ts.
import { readFileSync } from 'node:fs';

/** Classes (prototype methods and accessors), plain functions and plain values of the addon. */
export function enumerateAddon(addon) {
  const classes = {};
  const functions = [];
  const values = [];
  for (const name of Object.keys(addon).sort()) {
    const v = addon[name];
    if (typeof v !== 'function') {
      values.push(name);
      continue;
    }
    const proto = v.prototype;
    const own = proto ? Object.getOwnPropertyNames(proto).filter((k) => k !== 'constructor') : [];
    if (own.length === 0) {
      functions.push(name);
      continue;
    }
    const methods = [];
    const getters = [];
    for (const k of own) {
      const d = Object.getOwnPropertyDescriptor(proto, k);
      if (typeof d.value === 'function') methods.push(k);
      else if (d.get) getters.push(k);
    }
    classes[name] = { ctor: v, methods, getters };
  }
  return { classes, functions, values };
}

/**
 * The `export interface` blocks of a TypeScript file: name, the interfaces it extends, and its
 * body ('' for `{}`). A block ends at the first line that is a lone `}`.
 */
function interfaceBlocks(text) {
  const blocks = [];
  for (const m of text.matchAll(/export interface (\w+)(?:\s+extends\s+([\w\s,]+?))?\s*\{(\}|[\s\S]*?\n\})/g)) {
    const [, name, parents, rest] = m;
    blocks.push({ name, parents: parents ? parents.split(',').map((x) => x.trim()).filter(Boolean) : [], body: rest === '}' ? '' : rest.slice(0, -1) });
  }
  return blocks;
}

/**
 * lib/native/binding.ts: members of each Native* interface (NativeBinding: the module's own
 * exports), with what it extends and what other declarations of the same name merge in, and
 * every option key of an inline `{ key?: ... }` type or an *Options interface.
 */
export function parseBinding(path) {
  const text = readFileSync(path, 'utf8');
  const own = {};
  const parentsOf = {};
  const optionKeys = new Set();
  for (const { name, parents, body } of interfaceBlocks(text)) {
    const members = (own[name] ??= new Set()); // declaration merging: every block of the name adds
    (parentsOf[name] ??= []).push(...parents);
    for (const line of body.split('\n')) {
      const mm = /^\s{2}(?:readonly\s+)?([A-Za-z_]\w*)\??\s*[:(]/.exec(line);
      if (mm) members.add(mm[1]);
    }
  }
  const interfaces = {};
  const resolve = (name, seen = new Set()) => {
    if (seen.has(name)) return new Set();
    seen.add(name);
    const all = new Set(own[name] ?? []);
    for (const p of parentsOf[name] ?? []) for (const k of resolve(p, seen)) all.add(k);
    return all;
  };
  for (const name of Object.keys(own)) {
    interfaces[name] = resolve(name);
    if (/Options$/.test(name)) for (const k of interfaces[name]) optionKeys.add(k);
  }
  for (const m of text.matchAll(/\{([^{}]*)\}/g)) for (const k of m[1].matchAll(/([A-Za-z_]\w*)\?:/g)) optionKeys.add(k[1]);
  return { interfaces, optionKeys: [...optionKeys].sort() };
}

/**
 * The options objects each call takes, from the parameter lists of binding.ts: for 'new Stream',
 * 'DeviceBuffer.copyFrom', 'mapSharedMemory' ..., per parameter the option keys it takes (an
 * inline `{ key?: ... }` type or an interface named *Options), or null. Lets the fuzzer put the
 * right (or almost right) keys where a call reads them.
 */
export function parseParams(path) {
  const text = readFileSync(path, 'utf8');
  const { interfaces } = parseBinding(path);
  const params = {};
  const blocks = interfaceBlocks(text);
  // the module's own functions: NativeBinding and the interfaces it is made of
  const moduleLevel = new Set(['NativeBinding']);
  for (let grew = true; grew; ) {
    grew = false;
    for (const b of blocks) if (moduleLevel.has(b.name)) for (const p of b.parents) if (!moduleLevel.has(p)) grew = moduleLevel.add(p) !== undefined;
  }
  for (const { name: iface, body } of blocks) {
    const owner = moduleLevel.has(iface) ? '' : iface.replace(/^Native/, '');
    for (const mm of body.matchAll(/^ {2}(?:readonly\s+)?([A-Za-z_]\w*)\??(?:: new |: \(|\()/gm)) {
      const start = body.indexOf('(', mm.index + mm[0].length - 1);
      let depth = 0;
      let end = start;
      for (; end < body.length; end++) {
        const c = body[end];
        if ('({[<'.includes(c)) depth++;
        else if (')}]>'.includes(c) && !(c === '>' && body[end - 1] === '=')) depth--;
        if (depth === 0) break;
      }
      const list = [];
      let cur = '';
      depth = 0;
      for (const c of body.slice(start + 1, end)) {
        if ('({[<'.includes(c)) depth++;
        else if (')}]>'.includes(c)) depth--;
        if (c === ',' && depth === 0) {
          list.push(cur);
          cur = '';
        } else cur += c;
      }
      if (cur.trim()) list.push(cur);
      const keysOf = (param) => {
        const type = param.slice(param.indexOf(':') + 1);
        const brace = type.indexOf('{');
        if (brace >= 0) return [...type.slice(brace).matchAll(/([A-Za-z_]\w*)\??:/g)].map((k) => k[1]);
        const named = /\b(\w+Options)\b/.exec(type)?.[1];
        return named && interfaces[named] ? [...interfaces[named]] : null;
      };
      const name = mm[1];
      const isCtor = /: new $/.test(mm[0]);
      const key = owner ? `${owner}.${name}` : isCtor ? `new ${name}` : name;
      params[key] = list.map(keysOf);
    }
  }
  return params;
}

/** Names the addon exports that binding.ts does not declare, and the reverse. */
export function compareSurface(surface, declared) {
  const mismatches = [];
  const top = declared.interfaces.NativeBinding ?? new Set();
  const exported = new Set([...Object.keys(surface.classes), ...surface.functions, ...surface.values]);
  for (const n of exported) if (!top.has(n)) mismatches.push(`addon exports ${n}, binding.ts does not declare it`);
  for (const n of top) if (!exported.has(n)) mismatches.push(`binding.ts declares ${n}, the addon does not export it`);
  for (const [cls, info] of Object.entries(surface.classes)) {
    const decl = declared.interfaces[`Native${cls}`];
    if (!decl) {
      mismatches.push(`no interface Native${cls} in binding.ts`);
      continue;
    }
    const have = new Set([...info.methods, ...info.getters]);
    for (const n of have) if (!decl.has(n)) mismatches.push(`${cls}.${n} is not declared in Native${cls}`);
    for (const n of decl) if (!have.has(n)) mismatches.push(`Native${cls}.${n} is not on the ${cls} prototype`);
  }
  return mismatches;
}

/** The ErrorCode union of lib/errors.ts. */
export function errorCodes(path) {
  const text = readFileSync(path, 'utf8');
  const union = /export type ErrorCode =([\s\S]*?);/.exec(text);
  if (!union) throw new Error(`no ErrorCode union in ${path}`);
  return new Set([...union[1].matchAll(/'(ERR_[A-Z0-9_]+)'/g)].map((m) => m[1]));
}
