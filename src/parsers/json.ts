// Narrowing helpers for tool JSON: the shapes differ across util-linux and cryptsetup versions, so every
// field is checked where it is read instead of trusting a cast.
import { ParseError } from './parse-error.ts';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export function parseJson(text: string | unknown, what: string): Json {
  if (typeof text !== 'string') return text as Json;
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    throw new ParseError(what, (e as Error).message);
  }
}

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: Json | undefined, what: string): JsonObject {
  if (!isObject(v)) throw new ParseError(what, 'expected an object');
  return v;
}

/** A string, or undefined for null/absent/empty (lsblk prints null or "" for "unknown"). */
export function optStr(v: Json | undefined): string | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

export function str(v: Json | undefined, what: string): string {
  const s = optStr(v);
  if (s === undefined) throw new ParseError(what, 'missing string');
  return s;
}

/** Numbers come as JSON numbers or (cryptsetup's u64, lsblk before 2.33) decimal strings. */
export function num(v: Json | undefined, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  throw new ParseError(what, `expected a number, got ${JSON.stringify(v)}`);
}

export function strArray(v: Json | undefined): string[] {
  return Array.isArray(v) ? v.map(optStr).filter((s): s is string => s !== undefined) : [];
}
