package dev.quire.worker.model;

/**
 * Conversions between float32 and the two 16-bit float formats, done in Java because BF16 tensors
 * abort the JVM when they go through DJL (see STACK-NOTES), and Java 17 has no binary16 support.
 * Narrowing rounds to nearest, ties to even, like PyTorch's {@code .to(dtype)}.
 */
final class HalfFloats {

    private HalfFloats() {}

    /** Widens IEEE binary16 bits to float32; exact for every value, including subnormals, inf and NaN. */
    static float f16ToF32(short half) {
        int bits = half & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exponent = (bits >>> 10) & 0x1f;
        int mantissa = bits & 0x3ff;
        if (exponent == 0x1f) {
            // Inf or NaN: keep the NaN payload in the top mantissa bits.
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            // Zero or subnormal: mantissa * 2^-24, exact in float32.
            float magnitude = mantissa * 0x1p-24f;
            return sign == 0 ? magnitude : -magnitude;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }

    /** Narrows float32 to IEEE binary16 bits, rounding to nearest even; overflow gives infinity. */
    static short f32ToF16(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        int exponent = (bits >>> 23) & 0xff;
        int mantissa = bits & 0x7fffff;
        if (exponent == 0xff) {
            // Inf stays inf; NaN stays a (quiet) NaN.
            return (short) (sign | 0x7c00 | (mantissa == 0 ? 0 : 0x200 | (mantissa >>> 13)));
        }
        int halfExponent = exponent - 127 + 15;
        if (halfExponent >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (halfExponent <= 0) {
            if (halfExponent < -10) {
                return (short) sign; // below half the smallest subnormal: rounds to zero
            }
            int full = mantissa | 0x800000;
            int shift = 14 - halfExponent;
            int result = full >>> shift;
            int rest = full & ((1 << shift) - 1);
            int halfway = 1 << (shift - 1);
            if (rest > halfway || (rest == halfway && (result & 1) != 0)) {
                result++; // may carry into the smallest normal, which is the right answer
            }
            return (short) (sign | result);
        }
        int result = sign | (halfExponent << 10) | (mantissa >>> 13);
        int rest = mantissa & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (result & 1) != 0)) {
            result++; // a carry out of the mantissa bumps the exponent, up to infinity
        }
        return (short) result;
    }

    /** Widens bfloat16 bits to float32 (exact: bfloat16 is the top half of a float32). */
    static float bf16ToF32(short bf16) {
        return Float.intBitsToFloat((bf16 & 0xffff) << 16);
    }

    /** Narrows float32 to bfloat16 bits, rounding to nearest even; NaN stays a quiet NaN. */
    static short f32ToBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int roundingBias = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + roundingBias) >>> 16);
    }
}
