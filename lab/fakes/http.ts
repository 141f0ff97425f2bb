// Shared plumbing of the fakes: the request log and small response helpers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';

export interface RecordedRequest {
  seq: number;
  /** Which fake answered: imds, aad, vault, arm; connect = a CONNECT the proxy got; refused = a host the fake never
   *  serves; note = an event a test adds to the timeline (e.g. "journaled"). */
  kind: 'imds' | 'aad' | 'vault' | 'arm' | 'blob' | 'connect' | 'refused' | 'note';
  host: string;
  method: string;
  path: string;
  query: Record<string, string>;
  /** The raw request body (so a test can look for leaked secrets anywhere). */
  body: string;
  headers: Record<string, string>;
  status?: number;
  /** The permission the request needs: a vault permission (secrets/set) or an ARM RBAC action
   *  (Microsoft.Compute/virtualMachines/extensions/write). */
  permission?: string;
}

export class RequestLog {
  readonly all: RecordedRequest[] = [];
  add(r: Omit<RecordedRequest, 'seq'>): RecordedRequest {
    const rec = { seq: this.all.length, ...r };
    this.all.push(rec);
    return rec;
  }
  clear(): void { this.all.length = 0; }
  of(kind: RecordedRequest['kind']): RecordedRequest[] { return this.all.filter((r) => r.kind === kind); }
}

export async function readBody(req: IncomingMessage): Promise<string> {
  let raw = '';
  for await (const c of req) raw += c;
  return raw;
}

export function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

export function sendJson(res: ServerResponse, rec: RecordedRequest | undefined, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (rec) rec.status = status;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-ms-request-id': randomUUID(), ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}
