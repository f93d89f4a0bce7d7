/**
 * A parser for the protocol-buffer text format (what Triton's config.pbtxt is written in).
 * It knows nothing of any schema: it yields a tree of fields with their source positions, and
 * `config.ts` maps that tree onto the model-config schema.
 *
 * Supported: `#` comments, `name: value`, `name { ... }` / `name: { ... }` / `name < ... >`,
 * lists `name: [a, b]` (scalars or messages), strings in '...' or "..." with C escapes and
 * adjacent-literal concatenation, integers (decimal, hex, octal), floats, `inf`/`nan`,
 * identifiers (enum values, true/false), and `,` or `;` between fields.
 */
import { TensorRtError } from '../errors.js';

export interface PbPos {
  line: number;
  col: number;
}

export type PbScalar =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number; text: string }
  | { kind: 'ident'; value: string };

export type PbValue = PbScalar | { kind: 'message'; fields: PbField[] };

export interface PbField {
  name: string;
  pos: PbPos;
  value: PbValue;
}

/** A syntax error, with 1-based line and column. Its code is ERR_CONFIG. */
export class PbtxtSyntaxError extends TensorRtError {
  readonly line: number;
  readonly col: number;
  constructor(message: string, pos: PbPos) {
    super('ERR_CONFIG', `${pos.line}:${pos.col}: ${message}`, { line: pos.line, col: pos.col });
    this.line = pos.line;
    this.col = pos.col;
  }
}

type TokKind = 'ident' | 'number' | 'string' | 'punct' | 'eof';
interface Token {
  kind: TokKind;
  text: string;
  /** decoded value for strings */
  value?: string;
  pos: PbPos;
}

/** Deepest nesting of messages accepted. */
const MAX_DEPTH = 64;
const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_.]/;
const PUNCT = new Set(['{', '}', '<', '>', '[', ']', ':', ',', ';', '-', '/']);

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const pos = (): PbPos => ({ line, col: i - lineStart + 1 });
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    const p = pos();
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < src.length && IDENT_PART.test(src[j]!)) j++;
      out.push({ kind: 'ident', text: src.slice(i, j), pos: p });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      let j = i;
      if (c === '0' && (src[i + 1] === 'x' || src[i + 1] === 'X')) {
        j = i + 2;
        while (j < src.length && /[0-9a-fA-F]/.test(src[j]!)) j++;
      } else {
        while (j < src.length && /[0-9.]/.test(src[j]!)) j++;
        if (src[j] === 'e' || src[j] === 'E') {
          j++;
          if (src[j] === '+' || src[j] === '-') j++;
          while (j < src.length && /[0-9]/.test(src[j]!)) j++;
        }
        if (src[j] === 'f' || src[j] === 'F') j++;
      }
      if (j < src.length && /[A-Za-z_]/.test(src[j]!)) {
        throw new PbtxtSyntaxError(`invalid number "${src.slice(i, j + 1)}"`, p);
      }
      out.push({ kind: 'number', text: src.slice(i, j), pos: p });
      i = j;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      for (;;) {
        if (j >= src.length || src[j] === '\n') throw new PbtxtSyntaxError('unterminated string', p);
        const ch = src[j]!;
        if (ch === c) {
          j++;
          break;
        }
        if (ch === '\\') {
          const e = src[j + 1];
          const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v', '?': '?' };
          if (e !== undefined && simple[e] !== undefined) {
            value += simple[e];
            j += 2;
          } else if (e === 'x' || e === 'X') {
            const m = /^[0-9a-fA-F]{1,2}/.exec(src.slice(j + 2));
            if (!m) throw new PbtxtSyntaxError('invalid \\x escape', { line, col: j - lineStart + 1 });
            value += String.fromCharCode(parseInt(m[0], 16));
            j += 2 + m[0].length;
          } else if (e !== undefined && /[0-7]/.test(e)) {
            const m = /^[0-7]{1,3}/.exec(src.slice(j + 1))!;
            value += String.fromCharCode(parseInt(m[0], 8));
            j += 1 + m[0].length;
          } else {
            throw new PbtxtSyntaxError(`invalid escape "\\${e ?? ''}"`, { line, col: j - lineStart + 1 });
          }
          continue;
        }
        value += ch;
        j++;
      }
      out.push({ kind: 'string', text: src.slice(i, j), value, pos: p });
      i = j;
      continue;
    }
    if (PUNCT.has(c)) {
      out.push({ kind: 'punct', text: c, pos: p });
      i++;
      continue;
    }
    throw new PbtxtSyntaxError(`unexpected character "${c}"`, p);
  }
  out.push({ kind: 'eof', text: '', pos: pos() });
  return out;
}

function describe(t: Token): string {
  return t.kind === 'eof' ? 'end of input' : `"${t.text}"`;
}

/** Parse protobuf text format into a field tree. Throws PbtxtSyntaxError (line:col) on bad input. */
export function parsePbtxt(src: string): PbField[] {
  const toks = tokenize(src);
  let k = 0;
  const peek = (): Token => toks[k]!;
  const next = (): Token => toks[k++]!;
  const isPunct = (t: Token, p: string): boolean => t.kind === 'punct' && t.text === p;
  const expectPunct = (p: string): Token => {
    const t = next();
    if (!isPunct(t, p)) throw new PbtxtSyntaxError(`expected "${p}", found ${describe(t)}`, t.pos);
    return t;
  };

  const parseScalar = (): PbScalar => {
    const t = next();
    if (t.kind === 'string') {
      let value = t.value!;
      while (peek().kind === 'string') value += next().value!;
      return { kind: 'string', value };
    }
    let neg = false;
    let numTok = t;
    if (isPunct(t, '-')) {
      neg = true;
      numTok = next();
      if (numTok.kind === 'ident' && /^(inf|infinity|nan)$/i.test(numTok.text)) {
        return { kind: 'number', value: -Number(/^nan$/i.test(numTok.text) ? NaN : Infinity), text: `-${numTok.text}` };
      }
      if (numTok.kind !== 'number') throw new PbtxtSyntaxError(`expected a number after "-", found ${describe(numTok)}`, numTok.pos);
    }
    if (numTok.kind === 'number') {
      const raw = /^0[xX]/.test(numTok.text) ? numTok.text : numTok.text.replace(/[fF]$/, '');
      let v: number;
      if (/^0[xX]/.test(raw)) v = parseInt(raw.slice(2), 16);
      else if (/^0[0-7]+$/.test(raw)) v = parseInt(raw, 8);
      else v = Number(raw);
      if (Number.isNaN(v)) throw new PbtxtSyntaxError(`invalid number "${numTok.text}"`, numTok.pos);
      return { kind: 'number', value: neg ? -v : v, text: (neg ? '-' : '') + numTok.text };
    }
    if (t.kind === 'ident') {
      if (/^(inf|infinity)$/i.test(t.text)) return { kind: 'number', value: Infinity, text: t.text };
      if (/^nan$/i.test(t.text)) return { kind: 'number', value: NaN, text: t.text };
      return { kind: 'ident', value: t.text };
    }
    throw new PbtxtSyntaxError(`expected a value, found ${describe(t)}`, t.pos);
  };

  let depth = 0;
  const parseMessageBody = (close: string | null): PbField[] => {
    // a config nests a few levels; a file of a million "{" would otherwise overflow the stack
    if (++depth > MAX_DEPTH) throw new PbtxtSyntaxError(`messages are nested more than ${MAX_DEPTH} deep`, peek().pos);
    const fields: PbField[] = [];
    for (;;) {
      const t = peek();
      if (close === null && t.kind === 'eof') return fields;
      if (close !== null && isPunct(t, close)) {
        next();
        depth--;
        return fields;
      }
      if (t.kind === 'eof') throw new PbtxtSyntaxError(`expected "${close}" before end of input`, t.pos);
      if (t.kind !== 'ident') {
        if (t.kind === 'punct' && t.text === '[') throw new PbtxtSyntaxError('extension and Any fields are not supported', t.pos);
        throw new PbtxtSyntaxError(`expected a field name, found ${describe(t)}`, t.pos);
      }
      next();
      const name = t.text;
      let colon = false;
      if (isPunct(peek(), ':')) {
        next();
        colon = true;
      }
      const v = peek();
      if (isPunct(v, '{') || isPunct(v, '<')) {
        next();
        fields.push({ name, pos: t.pos, value: { kind: 'message', fields: parseMessageBody(v.text === '{' ? '}' : '>') } });
      } else if (!colon && !isPunct(v, '[')) {
        throw new PbtxtSyntaxError(`expected ":" or "{" after field "${name}", found ${describe(v)}`, v.pos);
      } else if (isPunct(v, '[')) {
        // `name: [ ... ]`, or `name [ { ... } ]` (a list of messages may omit the colon)
        next();
        if (isPunct(peek(), ']')) next();
        else {
          for (;;) {
            const e = peek();
            if (isPunct(e, '{') || isPunct(e, '<')) {
              next();
              fields.push({ name, pos: e.pos, value: { kind: 'message', fields: parseMessageBody(e.text === '{' ? '}' : '>') } });
            } else {
              fields.push({ name, pos: e.pos, value: parseScalar() });
            }
            const sep = next();
            if (isPunct(sep, ']')) break;
            if (!isPunct(sep, ',')) throw new PbtxtSyntaxError(`expected "," or "]" in list "${name}", found ${describe(sep)}`, sep.pos);
          }
        }
      } else {
        fields.push({ name, pos: t.pos, value: parseScalar() });
      }
      if (isPunct(peek(), ',') || isPunct(peek(), ';')) next();
    }
  };

  return parseMessageBody(null);
}
