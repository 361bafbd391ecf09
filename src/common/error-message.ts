/**
 * The message of anything thrown. Checks the shape rather than `instanceof Error`, which is false
 * for errors from another realm (Node core errors under Jest's VM modules, for one).
 */
export function errorMessage(error: unknown): string {
  if (typeof error === 'object' && error !== null && typeof (error as Error).message === 'string') {
    return (error as Error).message;
  }
  return String(error);
}
