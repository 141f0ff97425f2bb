// Long-running operations the way Compute runs them: the write answers at once with an Azure-AsyncOperation
// URL under .../providers/Microsoft.Compute/locations/<loc>/operations/<id>; GETs of that URL say InProgress
// until the operation is decided (its outcome known and at least N polls answered), then Succeeded, Failed
// (with an error) or Canceled (preempted by a later write on the same resource).
import { randomUUID } from 'node:crypto';
import type { Failure, Json } from './arm-store.ts';

/** How a test decides an operation: success, or failure with the handler's code and message. */
export type OperationOutcome = 'succeeded' | { failed: { code?: string; message: string } };
export type Decision = OperationOutcome | void | undefined;
export type Settled = { ok: true } | { ok: false; failure: Failure };

export interface OperationSpec {
  host: string;
  sub: string;
  location: string;
  apiVersion: string;
  /** Polls answered InProgress before the operation may end. */
  polls: number;
  decision: Decision | Promise<Decision>;
  /** Applies the outcome to the resource; returns the operation's error when it failed. */
  finish(outcome: Settled): Failure | undefined;
}

interface Operation {
  startTime: string;
  endTime?: string;
  pollsLeft: number;
  settled?: Settled;
  status: 'InProgress' | 'Succeeded' | 'Failed' | 'Canceled';
  error?: Failure;
  finish: OperationSpec['finish'];
}

function settle(d: Decision): Settled {
  if (d === undefined || d === 'succeeded') return { ok: true };
  return { ok: false, failure: { code: d.failed.code ?? '1', message: d.failed.message } };
}

export class Operations {
  private readonly ops = new Map<string, Operation>();

  /** Starts an operation; returns its id and the URL to poll. */
  start(spec: OperationSpec): { id: string; url: string } {
    const id = randomUUID();
    const op: Operation = { startTime: new Date().toISOString(), pollsLeft: spec.polls, status: 'InProgress', finish: spec.finish };
    this.ops.set(id, op);
    // A hook that throws is a broken test, not a failed extension: say so where the test will look.
    const hookFailed = (e: unknown): Settled => ({ ok: false, failure: { code: 'FakeArmHookError', message: `onExtensionPut threw: ${String(e)}` } });
    try {
      const d = spec.decision;
      if (d instanceof Promise) d.then((v) => { op.settled = settle(v); }, (e: unknown) => { op.settled = hookFailed(e); });
      else op.settled = settle(d);
    } catch (e) { op.settled = hookFailed(e); }
    const loc = spec.location.toLowerCase().replace(/\s+/g, '');
    const url = `https://${spec.host}/subscriptions/${spec.sub}/providers/Microsoft.Compute/locations/${loc}/operations/${id}?p=${randomUUID()}&api-version=${spec.apiVersion}`;
    return { id, url };
  }

  running(id: string | undefined): boolean { return id !== undefined && this.ops.get(id)?.status === 'InProgress'; }

  /** A later write on the same resource preempts this one, as Compute does. */
  cancel(id: string, error: Failure): void {
    const op = this.ops.get(id);
    if (op?.status !== 'InProgress') return;
    Object.assign(op, { status: 'Canceled', error, endTime: new Date().toISOString() });
  }

  /** The answer to one poll (which may end the operation), or undefined for an unknown id. */
  poll(id: string): Json | undefined {
    const op = this.ops.get(id);
    if (!op) return undefined;
    if (op.status === 'InProgress') {
      if (op.pollsLeft > 0) op.pollsLeft--;
      else if (op.settled) {
        op.error = op.finish(op.settled);
        op.status = op.error ? 'Failed' : 'Succeeded';
        op.endTime = new Date().toISOString();
      }
    }
    return {
      startTime: op.startTime, ...(op.endTime ? { endTime: op.endTime } : {}), status: op.status,
      ...(op.error ? { error: { ...op.error } } : {}), name: id,
    };
  }
}
