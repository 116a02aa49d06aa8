package org.xraydl.kernels;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.scalar.RectifiedLinear;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link DirectEltwise#scaleShiftRelu}: y = x*scale + shift and libnd4j's ReLU in one pass, the same bits where y is not NaN or -0. */
class DirectEltwiseScaleShiftReluTest {
    @BeforeAll
    static void bindingsLoad() {
        assertTrue(OneDnn.available(), "oneDNN's Java bindings load here (the dependency ships their natives)");
    }

    private static int[] bits(INDArray a) {
        float[] f = a.dup().data().asFloat();
        int[] b = new int[f.length];
        for (int i = 0; i < f.length; i++) {
            b[i] = Float.floatToRawIntBits(f[i]);
        }
        return b;
    }

    @Test
    void sameBitsAsScaleShiftThenLibnd4jRelu() {
        DirectEltwise d = DirectEltwise.createIfAvailable();
        assertNotNull(d);
        for (long[] shape : List.of(new long[]{1, 5, 9, 7}, new long[]{3, 13, 4, 4}, new long[]{2, 24, 6, 6}, new long[]{4, 36, 12, 12})) {
            Nd4j.getRandom().setSeed(shape[1]);
            INDArray x = Nd4j.randn(DataType.FLOAT, shape);
            int c = (int) shape[1];
            float[] scale = Nd4j.rand(DataType.FLOAT, c).muli(3).subi(1).toFloatVector();
            float[] shift = Nd4j.rand(DataType.FLOAT, c).muli(2).subi(1).toFloatVector();
            INDArray y = Nd4j.createUninitialized(DataType.FLOAT, shape);
            assertTrue(d.scaleShift(x, scale, shift, y));
            INDArray expected = Nd4j.createUninitialized(DataType.FLOAT, shape);
            Nd4j.exec(new RectifiedLinear(y, expected, 0.0));
            INDArray fused = Nd4j.createUninitialized(DataType.FLOAT, shape);
            assertTrue(d.scaleShiftRelu(x, scale, shift, fused));
            assertArrayEquals(bits(expected), bits(fused), java.util.Arrays.toString(shape));
            long zeros = expected.eq(0).castTo(DataType.INT).sumNumber().longValue();
            assertTrue(zeros > 0 && zeros < expected.length(), "both signs present: " + zeros);
        }
        assertEquals(4, d.plans("scaleShiftRelu"));
    }

    /** Documents the cases the callers must rule out: oneDNN's ReLU makes NaN and -0 into +0, libnd4j's keeps them. */
    @Test
    void nanAndNegativeZeroDifferFromLibnd4j() {
        DirectEltwise d = DirectEltwise.createIfAvailable();
        float[] v = {Float.NaN, -0f, -1f, 1f, 0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 2.5f};
        INDArray x = Nd4j.createFromArray(v).reshape(1, 1, 1, v.length);
        INDArray fused = Nd4j.createUninitialized(DataType.FLOAT, 1, 1, 1, v.length);
        assertTrue(d.scaleShiftRelu(x, new float[]{1f}, new float[]{-0f}, fused));
        INDArray nd4j = Nd4j.createUninitialized(DataType.FLOAT, 1, 1, 1, v.length);
        Nd4j.exec(new RectifiedLinear(x, nd4j, 0.0));
        System.out.println("[scaleShiftRelu] oneDNN " + java.util.Arrays.toString(fused.data().asFloat()) + " libnd4j "
                + java.util.Arrays.toString(nd4j.data().asFloat()));
    }
}
