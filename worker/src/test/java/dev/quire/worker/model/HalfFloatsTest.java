package dev.quire.worker.model;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class HalfFloatsTest {

    @Test
    void widensKnownF16Values() {
        assertThat(HalfFloats.f16ToF32((short) 0x3c00)).isEqualTo(1.0f);
        assertThat(HalfFloats.f16ToF32((short) 0xc000)).isEqualTo(-2.0f);
        assertThat(HalfFloats.f16ToF32((short) 0x3555)).isEqualTo(0.333251953125f);
        assertThat(HalfFloats.f16ToF32((short) 0x7bff)).isEqualTo(65504.0f); // largest finite
        assertThat(HalfFloats.f16ToF32((short) 0x0400)).isEqualTo(0x1p-14f); // smallest normal
        assertThat(HalfFloats.f16ToF32((short) 0x03ff)).isEqualTo(1023 * 0x1p-24f); // largest subnormal
        assertThat(HalfFloats.f16ToF32((short) 0x0001)).isEqualTo(0x1p-24f); // smallest subnormal
        assertThat(HalfFloats.f16ToF32((short) 0x8001)).isEqualTo(-0x1p-24f);
        assertThat(Float.floatToRawIntBits(HalfFloats.f16ToF32((short) 0x8000))).isEqualTo(0x80000000); // -0
        assertThat(HalfFloats.f16ToF32((short) 0x7c00)).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(HalfFloats.f16ToF32((short) 0xfc00)).isEqualTo(Float.NEGATIVE_INFINITY);
        assertThat(HalfFloats.f16ToF32((short) 0x7e00)).isNaN();
        assertThat(HalfFloats.f16ToF32((short) 0x7c01)).isNaN(); // signalling-style payload stays NaN
    }

    @Test
    void everyF16ValueSurvivesARoundTrip() {
        for (int bits = 0; bits < 0x10000; bits++) {
            float widened = HalfFloats.f16ToF32((short) bits);
            short back = HalfFloats.f32ToF16(widened);
            if (Float.isNaN(widened)) {
                assertThat(HalfFloats.f16ToF32(back)).isNaN();
            } else {
                assertThat(back & 0xffff).as("0x%04x", bits).isEqualTo(bits);
            }
        }
    }

    @Test
    void narrowsToF16RoundingToNearestEven() {
        assertThat(HalfFloats.f32ToF16(0.1f)).isEqualTo((short) 0x2e66); // 0.0999755859375
        assertThat(HalfFloats.f32ToF16(65519.99f)).isEqualTo((short) 0x7bff);
        assertThat(HalfFloats.f32ToF16(65520f)).isEqualTo((short) 0x7c00); // halfway to 2^16 rounds to inf
        assertThat(HalfFloats.f32ToF16(1e6f)).isEqualTo((short) 0x7c00);
        assertThat(HalfFloats.f32ToF16(-1e6f)).isEqualTo((short) 0xfc00);
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1.0).
        assertThat(HalfFloats.f32ToF16(1f + 0x1p-11f)).isEqualTo((short) 0x3c00);
        assertThat(HalfFloats.f32ToF16(1f + 3 * 0x1p-11f)).isEqualTo((short) 0x3c02);
        // Subnormal results: 1.5 * 2^-24 is halfway between 1 and 2 ulps: even wins (2).
        assertThat(HalfFloats.f32ToF16(1.5f * 0x1p-24f)).isEqualTo((short) 0x0002);
        assertThat(HalfFloats.f32ToF16(0x1p-25f)).isEqualTo((short) 0x0000); // halfway to 0: even is 0
        assertThat(HalfFloats.f32ToF16(0x1.01p-25f)).isEqualTo((short) 0x0001);
        assertThat(HalfFloats.f32ToF16(-1e-10f)).isEqualTo((short) 0x8000);
        assertThat(HalfFloats.f32ToF16(1023.5f * 0x1p-24f)).isEqualTo((short) 0x0400); // carries into the smallest normal
        assertThat(HalfFloats.f16ToF32(HalfFloats.f32ToF16(Float.NaN))).isNaN();
    }

    @Test
    void convertsBf16() {
        assertThat(HalfFloats.bf16ToF32((short) 0x3f80)).isEqualTo(1.0f);
        assertThat(HalfFloats.bf16ToF32((short) 0xc020)).isEqualTo(-2.5f);
        assertThat(HalfFloats.bf16ToF32((short) 0x0001)).isEqualTo(Float.intBitsToFloat(0x00010000)); // subnormal
        assertThat(HalfFloats.bf16ToF32((short) 0x7f80)).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(HalfFloats.bf16ToF32((short) 0xff80)).isEqualTo(Float.NEGATIVE_INFINITY);
        assertThat(HalfFloats.bf16ToF32((short) 0x7fc0)).isNaN();

        assertThat(HalfFloats.f32ToBf16(0.1f)).isEqualTo((short) 0x3dcd); // 0.10009765625
        assertThat(HalfFloats.f32ToBf16(Float.intBitsToFloat(0x3f808000))).isEqualTo((short) 0x3f80); // tie to even
        assertThat(HalfFloats.f32ToBf16(Float.intBitsToFloat(0x3f818000))).isEqualTo((short) 0x3f82); // tie to even
        assertThat(HalfFloats.f32ToBf16(Float.MAX_VALUE)).isEqualTo((short) 0x7f80); // rounds up to inf
        assertThat(HalfFloats.bf16ToF32(HalfFloats.f32ToBf16(Float.NaN))).isNaN();
        // A NaN whose payload sits only in the low bits must not become infinity.
        assertThat(HalfFloats.bf16ToF32(HalfFloats.f32ToBf16(Float.intBitsToFloat(0x7f800001)))).isNaN();
        for (int bits = 0; bits < 0x10000; bits++) {
            float widened = HalfFloats.bf16ToF32((short) bits);
            if (!Float.isNaN(widened)) {
                assertThat(HalfFloats.f32ToBf16(widened) & 0xffff).isEqualTo(bits);
            }
        }
    }
}
