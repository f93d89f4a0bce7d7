/**
 * For CPU tests that need the native addon (it loads without a GPU or TensorRT, but it has to be
 * built): whether it loads here, and the reason a skipped test's name carries when it does not,
 * as the GPU suites say why they skip (test/gpu/helpers.ts).
 */
import { nativeAvailable } from '../../lib/native/binding.js';

export const NATIVE_READY = nativeAvailable();
/** Appended to the name of a test or suite that needs the addon; empty where it loads. */
export const NATIVE_SKIP_REASON = NATIVE_READY ? '' : ' [skipped: the native addon is not built: npm run build:native]';
