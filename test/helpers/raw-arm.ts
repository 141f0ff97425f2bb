// A raw Resource Manager client for tests that send what no SDK call of ours sends (template deployments, policy
// definitions): DefaultAzureCredential (in tests, the fake's IMDS) and @azure/core-rest-pipeline, HTTPS to
// https://management.azure.com through the fake's proxy. Make it after useFakeAzure(): the credential reads the
// environment when it is made.
import { bearerTokenAuthenticationPolicy, createDefaultHttpClient, createHttpHeaders, createPipelineFromOptions, createPipelineRequest } from '@azure/core-rest-pipeline';
import { DefaultAzureCredential } from '@azure/identity';

/** ARM's bodies, read loosely by tests. */
export type Any = Record<string, any>;
export interface ArmAnswer { status: number; body: Any; header: (h: string) => string | undefined }
export type ArmCall = (method: 'GET' | 'PUT', url: string, body?: unknown) => Promise<ArmAnswer>;

export function rawArm(): ArmCall {
  const pipeline = createPipelineFromOptions({});
  pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential: new DefaultAzureCredential(), scopes: 'https://management.azure.com/.default' }));
  const http = createDefaultHttpClient();
  return async (method, url, body) => {
    const req = createPipelineRequest({
      url: url.startsWith('https://') ? url : `https://management.azure.com${url}`, method,
      headers: createHttpHeaders({ 'content-type': 'application/json' }), ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const res = await pipeline.sendRequest(http, req);
    return { status: res.status, body: JSON.parse(res.bodyAsText || '{}') as Any, header: (h) => res.headers.get(h) };
  };
}

/** Polls an Azure-AsyncOperation URL until it leaves InProgress/Running; its last answer. */
export async function untilDone(arm: ArmCall, url: string): Promise<Any> {
  for (;;) {
    const r = await arm('GET', url);
    if (!['InProgress', 'Running'].includes(String(r.body['status']))) return r.body;
    await new Promise((d) => setTimeout(d, 5));
  }
}
