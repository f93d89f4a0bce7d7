import { TensorRtError } from '../errors.js';
import { formatShape } from '../tensor.js';
import type { ShapeRange, TensorInfo } from './runtime.js';

/**
 * Checks `dims` for input `t` against its static dimensions and the profile's range, with the
 * same codes the native layer uses, so callers get the error before anything is enqueued.
 */
export function checkInputShape(t: TensorInfo, range: ShapeRange | undefined, dims: readonly number[], profile: number): void {
  if (dims.length !== t.shape.length) {
    throw new TensorRtError('ERR_SHAPE_MISMATCH', `input '${t.name}' has rank ${t.shape.length} (shape ${formatShape(t.shape)}), got ${formatShape(dims)}`, {
      tensor: t.name,
      expected: t.shape,
      actual: [...dims],
    });
  }
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i]!;
    const s = t.shape[i]!;
    if (!Number.isInteger(d) || d < 0) throw new TensorRtError('ERR_SHAPE_MISMATCH', `input '${t.name}': invalid dimension ${d} in ${formatShape(dims)}`);
    if (s >= 0 && d !== s) {
      throw new TensorRtError('ERR_SHAPE_MISMATCH', `input '${t.name}' is ${formatShape(t.shape)}, got ${formatShape(dims)} (dimension ${i} is static)`, {
        tensor: t.name,
        expected: t.shape,
        actual: [...dims],
      });
    }
    if (range && (d < range.min[i]! || d > range.max[i]!)) {
      throw new TensorRtError(
        'ERR_SHAPE_OUT_OF_PROFILE',
        `input '${t.name}' shape ${formatShape(dims)} is outside optimization profile ${profile} (min ${formatShape(range.min)}, max ${formatShape(range.max)})`,
        { tensor: t.name, min: range.min, max: range.max, actual: [...dims] },
      );
    }
  }
}
