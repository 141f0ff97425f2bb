// Types for the generated standalone validators (build/validators.mjs).
import type { ErrorObject } from 'ajv';

export interface StandaloneValidate {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}
export const checkPublic: StandaloneValidate;
export const checkProtected: StandaloneValidate;
