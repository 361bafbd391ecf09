/**
 * Moved to src/common/error-message.ts. Kept as a re-export only while the intake files that
 * import it from here are being split on another branch; delete it once they import from common.
 */
export { errorMessage } from '../common/error-message.js';
