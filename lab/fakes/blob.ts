// Azure Blob Storage, only as far as a VM downloads a file from it: GET (and HEAD) of a blob a test put, by its
// https://<account>.blob.core.windows.net/<container>/<name> URL, with or without a SAS query (not checked:
// the fake plays a readable container). Where the run-command bootstrap fetches the package from.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestLog } from './http.ts';

export const isBlobHost = (host: string): boolean => /^[a-z0-9]{3,24}\.blob\.core\.windows\.net$/.test(host);

export class FakeBlobs {
  private readonly blobs = new Map<string, Buffer>();
  private readonly log: RequestLog;
  constructor(log: RequestLog) { this.log = log; }

  /** Stores bytes at an https URL of a blob host; returns the URL. */
  put(url: string, bytes: Buffer): string {
    const u = new URL(url);
    if (u.protocol !== 'https:' || !isBlobHost(u.hostname)) throw new Error(`fake blobs: ${url} is not an https URL of <account>.blob.core.windows.net`);
    this.blobs.set(`${u.hostname}${u.pathname}`, bytes);
    return url;
  }

  async handle(req: IncomingMessage, res: ServerResponse, host: string): Promise<void> {
    const path = new URL(req.url ?? '/', `https://${host}`).pathname;
    this.log.add({ kind: 'blob', host, method: req.method ?? '', path, query: {}, body: '', headers: {} });
    const bytes = this.blobs.get(`${host}${path}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405); res.end(); return; }
    if (!bytes) {
      res.writeHead(404, { 'content-type': 'application/xml', 'x-ms-error-code': 'BlobNotFound' });
      res.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message></Error>');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length), 'x-ms-blob-type': 'BlockBlob' });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }
}
