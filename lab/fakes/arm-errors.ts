// The error bodies Azure Resource Manager and the Compute resource provider answer with, worded as they word
// them, so that code parsing ARM's errors is tested against the real sentences rather than against ours.
// Most are copied from real responses quoted in public issues and docs; those marked "recalled" were not
// found quoted and may differ in detail.

export interface ArmErrorBody { error: { code: string; message: string; details?: ArmErrorBody['error'][] } }
export interface ArmError { status: number; body: ArmErrorBody; headers?: Record<string, string> }

const err = (status: number, code: string, message: string, headers?: Record<string, string>): ArmError =>
  ({ status, body: { error: { code, message } }, ...(headers ? { headers } : {}) });

export const missingApiVersion = (): ArmError =>
  err(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');

export const missingToken = (): ArmError => err(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", {
  'www-authenticate': 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."',
});

export const invalidToken = (): ArmError => err(401, 'InvalidAuthenticationToken', 'The access token is invalid.');

export const wrongAudience = (found: string, allowed: readonly string[]): ArmError => err(401, 'InvalidAuthenticationTokenAudience',
  `The access token has been obtained for wrong audience or resource '${found}'. It should exactly match with one of the allowed audiences ${allowed.flatMap((a) => [`'${a}/'`, `'${a}'`]).join(',')}.`);

/** Recalled. */
export const wrongTenant = (found: string, expected: string): ArmError => err(401, 'InvalidAuthenticationTokenTenant',
  `The access token is from the wrong issuer 'https://sts.windows.net/${found}/'. It must match the tenant 'https://sts.windows.net/${expected}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/${expected}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.`);

export const subscriptionNotFound = (sub: string): ArmError => err(404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`);

export const resourceGroupNotFound = (rg: string): ArmError => err(404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`);

/** `typeAndName` as ARM prints it: Microsoft.Compute/virtualMachines/vm1/extensions/ade. */
export const resourceNotFound = (typeAndName: string, rg: string): ArmError => err(404, 'ResourceNotFound',
  `The Resource '${typeAndName}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`);

/** Recalled (ARM's wording since about 2022). */
export const parentNotFound = (verb: string, childType: string, parentId: string): ArmError => err(404, 'ParentResourceNotFound',
  `Failed to perform '${verb}' on resource(s) of type '${childType}', because the parent resource '${parentId}' could not be found.`);

/** Recalled. */
export const operationNotFound = (id: string): ArmError => err(404, 'NotFound', `The operation '${id}' was not found.`);

export const noRoute = (method: string, path: string): ArmError => err(400, 'InvalidResourceType', `fake ARM: no resource type answers ${method} ${path}`);

export const invalidParameter = (message: string, target?: string): ArmError =>
  ({ status: 400, body: { error: { code: 'InvalidParameter', message, ...(target ? { target } : {}) } } });

export const authorizationFailed = (appId: string, objectId: string, action: string, scope: string): ArmError => err(403, 'AuthorizationFailed',
  `The client '${appId}' with object id '${objectId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
  { 'x-ms-failure-cause': 'gateway' });

export const throttled = (verb: string, sub: string, actor: string, retryAfter: string): ArmError => err(429, 'SubscriptionRequestsThrottled',
  `Number of '${verb}' requests for subscription '${sub}' actor '${actor}' exceeded. Please try again after '${retryAfter}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.`,
  { 'retry-after': retryAfter, [`x-ms-ratelimit-remaining-subscription-${verb === 'read' ? 'reads' : verb === 'write' ? 'writes' : 'deletes'}`]: '0' });

/** The default message is recalled; Compute words its conflicts case by case, so tests may pass their own. */
export const conflict = (message = 'The request failed due to conflict with a concurrent request. To resolve it, please refer to https://aka.ms/activitylog to get more details on the conflicting requests.'): ArmError =>
  err(409, 'Conflict', message);

/** What the operation status says when the guest agent reports the handler failed: the handler's message, quoted
 *  (the shape is quoted from real responses; the troubleshooting link varies by extension, this one is recalled). */
export function extensionFailureMessage(name: string, publisher: string, type: string, handlerMessage: string): string {
  return `VM has reported a failure when processing extension '${name}' (publisher '${publisher}' and type '${type}'). Error message: '${handlerMessage}'. More information on troubleshooting is available at https://aka.ms/VMExtensionLinuxTroubleshoot. `;
}

export const preempted = { code: 'OperationPreempted', message: 'The operation has been preempted by a more recent operation.' };
