// Types for the plain-JavaScript fake agent, so TypeScript tests use it strictly.
export const TIMEOUTS_S: { install: number; enable: number; disable: number; update: number; uninstall: number };
export type Op = 'install' | 'enable' | 'disable' | 'update' | 'uninstall';
export interface Extension { name: string; version: string; dir: string; configFolder: string; statusFolder: string; logFolder: string }
export interface RunResult { op: Op; seq: number; code: number; signal: string | null; stdout: string; stderr: string; timedOut: boolean; ms: number }
export interface SettingsInput {
  publicSettings?: Record<string, unknown> | unknown[] | null;
  protectedSettings?: Record<string, unknown>;
  cipher?: string;
  oaep?: boolean;
  raw?: string;
  seq?: number;
}
export type StatusFile = Array<{ version: number; timestampUTC: string; status: { name: string; operation: string; status: string; code: number; formattedMessage: { lang: string; message: string }; substatus?: Array<{ name: string; status: string; code: number; formattedMessage: { lang: string; message: string } }> } }>;
export class FakeAgent {
  constructor(o: { root: string; logRoot: string; timeoutsS?: Partial<typeof TIMEOUTS_S> });
  root: string;
  logRoot: string;
  installPackage(source: string): Extension;
  extension(name: string, version: string): Extension;
  certificate(): { thumbprint: string; crt: string; prv: string };
  encryptProtected(obj: unknown, o?: { cipher?: string; oaep?: boolean }): string;
  sequences(ext: Extension): number[];
  currentSeq(ext: Extension): number;
  writeSettings(ext: Extension, s?: SettingsInput): number;
  run(ext: Extension, op: Op, o?: { env?: Record<string, string>; timeoutS?: number; prefix?: string[] }): Promise<RunResult>;
  statusPath(ext: Extension, seq?: number): string;
  status(ext: Extension, seq?: number): StatusFile | undefined;
  waitTerminal(ext: Extension, seq?: number, timeoutS?: number): Promise<StatusFile>;
  deploy(source: string, settings?: SettingsInput): Promise<{ ext: Extension; install: RunResult; enable: RunResult }>;
  upgrade(oldExt: Extension, source: string): Promise<{ ext: Extension; ops: RunResult[] }>;
  remove(ext: Extension): Promise<RunResult[]>;
  only(): Extension;
}
