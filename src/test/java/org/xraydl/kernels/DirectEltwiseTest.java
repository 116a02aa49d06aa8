package org.xraydl.kernels;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.scalar.Step;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.xraydl.UserError;

import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link DirectEltwise}'s oneDNN passes against double-precision references and against the ND4J ops they replace
 * (the same bits for ReLU backprop, by contract; rounding-level for the batch-norm passes), for batches of 1 and more
 * and channel counts that are not multiples of 8; calls that do not apply leave their output untouched; plans per
 * shape; a plan built on one thread runs on another.
 */
class DirectEltwiseTest {
    /** (N, C, H, W): batch 1 and larger, channels 1, 5, 13, 24, odd and even planes. */
    static List<long[]> shapes() {
        return List.of(new long[]{1, 5, 9, 7}, new long[]{3, 13, 4, 4}, new long[]{2, 24, 6, 6}, new long[]{6, 1, 3, 5},
                new long[]{4, 36, 12, 12});
    }

    @BeforeAll
    static void bindingsLoad() {
        assertTrue(OneDnn.available(), "oneDNN's Java bindings load here (the dependency ships their natives)");
    }

    @AfterEach
    void clearProperty() {
        System.clearProperty(DirectEltwise.PROPERTY);
    }

    private static DirectEltwise direct() {
        DirectEltwise d = DirectEltwise.createIfAvailable();
        assertNotNull(d);
        return d;
    }

    private static float[] factors(int c, long seed, double lo, double hi) {
        Nd4j.getRandom().setSeed(seed);
        return Nd4j.rand(DataType.FLOAT, c).muli(hi - lo).addi(lo).toFloatVector();
    }

    private static INDArray randn(long seed, long... shape) {
        Nd4j.getRandom().setSeed(seed);
        return Nd4j.randn(DataType.FLOAT, shape);
    }

    /** The per-channel values repeated per example, as the [N*C, 1] column the ND4J passes use. */
    private static INDArray column(float[] perChannel, int n) {
        float[] out = new float[perChannel.length * n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(perChannel, 0, out, i * perChannel.length, perChannel.length);
        }
        return Nd4j.createFromArray(out).reshape(out.length, 1);
    }

    private static int channel(long index, long[] shape) {
        return (int) ((index / (shape[2] * shape[3])) % shape[1]);
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void scaleShiftMatchesADoubleReferenceAndTheNd4jPasses(long[] shape) {
        int n = (int) shape[0];
        int c = (int) shape[1];
        INDArray x = randn(1, shape).muli(3).addi(0.5);
        float[] scale = factors(c, 2, -2, 2);
        float[] shift = factors(c, 3, -1, 1);
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, shape);
        assertTrue(direct().scaleShift(x, scale, shift, out));

        float[] xs = x.data().asFloat();
        float[] got = out.data().asFloat();
        double worst = 0;
        for (int i = 0; i < xs.length; i++) {
            int ch = channel(i, shape);
            double ref = (double) xs[i] * scale[ch] + shift[ch];
            // two float roundings: x*scale, then + shift
            double bound = 2.5 * Math.ulp(1f) / 2 * (Math.abs((double) xs[i] * scale[ch]) + Math.abs(ref));
            worst = Math.max(worst, Math.abs(got[i] - ref) / Math.max(bound, Float.MIN_VALUE));
            assertTrue(Math.abs(got[i] - ref) <= bound, "element " + i + ": " + got[i] + " vs " + ref);
        }
        // the ND4J passes it replaces: broadcasting multiply, then broadcasting add, on the [N*C, H*W] view
        LayerOps ops = new LayerOps();
        INDArray nd4j = Nd4j.createUninitialized(DataType.FLOAT, shape);
        INDArray rows = x.reshape('c', (long) n * c, shape[2] * shape[3]);
        INDArray outRows = nd4j.reshape('c', (long) n * c, shape[2] * shape[3]);
        ops.multiply(rows, column(scale, n), outRows);
        ops.add(outRows, column(shift, n), outRows);
        int differing = differingBits(nd4j, out);
        System.out.printf("[direct eltwise] scaleShift %s: worst error / bound %.2f, elements differing from ND4J's passes: %d%n",
                java.util.Arrays.toString(shape), worst, differing);
        assertClose(nd4j, out, 1e-6);
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void batchNormBackwardMatchesADoubleReferenceAndTheNd4jPasses(long[] shape) {
        int n = (int) shape[0];
        int c = (int) shape[1];
        INDArray dy = randn(4, shape).muli(0.01).addi(0.002);
        INDArray x = randn(5, shape).muli(2).subi(0.3);
        float[] a = factors(c, 6, 0.2, 3);
        float[] b = factors(c, 7, -0.05, 0.05);
        float[] s = factors(c, 8, -0.01, 0.01);
        INDArray work = Nd4j.createUninitialized(DataType.FLOAT, shape);
        INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, shape);
        assertTrue(direct().batchNormBackward(dy, x, a, b, s, work, dx));

        float[] dys = dy.data().asFloat();
        float[] xs = x.data().asFloat();
        float[] got = dx.data().asFloat();
        for (int i = 0; i < xs.length; i++) {
            int ch = channel(i, shape);
            double t1 = (double) dys[i] * a[ch];
            double t2 = (double) xs[i] * b[ch];
            double ref = t1 + t2 + s[ch];
            // four float roundings (two products, two sums), each at most half an ulp of its result
            double bound = 2 * Math.ulp(1f) / 2 * (Math.abs(t1) + Math.abs(t2) + Math.abs(t1 + t2) + Math.abs(ref)) + Float.MIN_NORMAL;
            assertTrue(Math.abs(got[i] - ref) <= bound, "element " + i + ": " + got[i] + " vs " + ref + " (bound " + bound + ")");
        }
        LayerOps ops = new LayerOps();
        long rowsN = (long) n * c;
        long plane = shape[2] * shape[3];
        INDArray nd4j = Nd4j.createUninitialized(DataType.FLOAT, shape);
        INDArray term = Nd4j.createUninitialized(DataType.FLOAT, shape);
        INDArray dxRows = nd4j.reshape('c', rowsN, plane);
        INDArray termRows = term.reshape('c', rowsN, plane);
        ops.multiply(dy.reshape('c', rowsN, plane), column(a, n), dxRows);
        ops.multiply(x.reshape('c', rowsN, plane), column(b, n), termRows);
        ops.add(dxRows, termRows, dxRows);
        ops.add(dxRows, column(s, n), dxRows);
        System.out.printf("[direct eltwise] batchNormBackward %s: elements differing from ND4J's four passes: %d%n",
                java.util.Arrays.toString(shape), differingBits(nd4j, dx));
        assertClose(nd4j, dx, 1e-6);
        assertEquals(x.mul(Nd4j.createFromArray(b).reshape(1, c, 1, 1)), work, "the work array holds x*b");
    }

    /** step(x) * dy, as {@link FastReluLayer} computes it without oneDNN. */
    private static INDArray stepTimes(INDArray x, INDArray dy) {
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        Nd4j.exec(new Step(x, out, 0.0));
        return out.muli(dy);
    }

    /**
     * dy where x &gt; 0, else 0*dy (as step(x)*dy), bit for bit, for x and dy among +-0, +-infinity, NaN, denormals,
     * the extremes; except x = NaN, where oneDNN passes dy on (step(NaN)*dy = 0*dy). A NaN activation does not
     * occur in a network whose loss is finite (the NaN would reach the loss), and where the loss is NaN, dy is too.
     */
    @Test
    void reluBackwardIsBitIdenticalToStepTimesGradientAlsoForSpecialValuesExceptANanInput() {
        float[] specials = {0f, -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MIN_VALUE,
                -Float.MIN_VALUE, Float.MIN_NORMAL, 1f, -1f, 3.5e-3f, -2.5e7f, Float.MAX_VALUE, Float.intBitsToFloat(0x7fc00123)};
        int k = specials.length;
        float[] xs = new float[k * k];
        float[] dys = new float[k * k];
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                xs[i * k + j] = specials[i];
                dys[i * k + j] = specials[j];
            }
        }
        INDArray x = Nd4j.createFromArray(xs).reshape(k, k);
        INDArray dy = Nd4j.createFromArray(dys).reshape(k, k);
        INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, k, k);
        assertTrue(direct().reluBackward(x, dy, dx));
        float[] expected = stepTimes(x, dy).data().asFloat();
        float[] got = dx.data().asFloat();
        StringBuilder mismatches = new StringBuilder();
        for (int i = 0; i < got.length; i++) {
            // documented exception: oneDNN's kernel takes NaN > 0 as true (an unordered compare) and passes dy on,
            // where step(NaN) = 0 gives 0*dy
            float want = Float.isNaN(xs[i]) ? dys[i] : expected[i];
            if (Float.floatToRawIntBits(want) != Float.floatToRawIntBits(got[i])) {
                mismatches.append(String.format("x %s (%08x), dy %s: %s (step * dy) vs %s%n", xs[i], Float.floatToRawIntBits(xs[i]), dys[i], want, got[i]));
            }
        }
        assertEquals("", mismatches.toString());
        // the rule, spelled out: dy where x > 0, else 0*dy (-0 for a negative dy, NaN for an infinite or NaN dy)
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(got[k + 9]), "x = -0, dy = -1: 0 * -1 = -0");
        assertTrue(Float.isNaN(expected[2 * k + 3]), "step(NaN) * inf = 0 * inf = NaN");
        assertEquals(Float.POSITIVE_INFINITY, got[2 * k + 3], "x = NaN: dy passed on");
        assertEquals(-1f, got[2 * k + 9], "x = NaN: dy passed on");
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void reluBackwardOfRandomTensorsIsBitIdentical(long[] shape) {
        INDArray x = randn(9, shape);
        INDArray dy = randn(10, shape);
        INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, shape);
        assertTrue(direct().reluBackward(x, dy, dx));
        assertArrayEquals(stepTimes(x, dy).data().asFloat(), dx.data().asFloat());
        INDArray rank2 = dy.reshape(shape[0], -1);
        INDArray dx2 = Nd4j.createUninitialized(DataType.FLOAT, rank2.shape());
        assertTrue(direct().reluBackward(x.reshape(shape[0], -1), rank2, dx2), "any rank in dense C order");
        assertArrayEquals(dx.data().asFloat(), dx2.data().asFloat());
    }

    @Test
    void callsThatDoNotApplyWriteNothing() {
        DirectEltwise d = direct();
        long[] shape = {2, 5, 4, 4};
        INDArray x = randn(11, shape);
        INDArray dy = randn(12, shape);
        float[] f = factors(5, 13, 0.5, 1.5);
        // a view with gaps: every other column of a wider array
        INDArray wide = randn(14, 2, 5, 4, 8);
        INDArray gappy = wide.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, 2, 8));
        assertArrayEquals(shape, gappy.shape());
        INDArray permuted = randn(15, 2, 4, 4, 5).permute(0, 3, 1, 2);
        assertArrayEquals(shape, permuted.shape());
        for (INDArray bad : List.of(gappy, permuted, x.castTo(DataType.DOUBLE), randn(16, 2, 5, 4, 3))) {
            INDArray out = Nd4j.zeros(DataType.FLOAT, shape);
            assertFalse(d.scaleShift(bad, f, f, out), "scaleShift with " + bad.shapeInfoToString());
            assertFalse(d.batchNormBackward(dy, bad, f, f, f, Nd4j.zeros(DataType.FLOAT, shape), out));
            assertFalse(d.batchNormBackward(bad, x, f, f, f, Nd4j.zeros(DataType.FLOAT, shape), out));
            assertFalse(d.reluBackward(bad, dy, out), "reluBackward with " + bad.shapeInfoToString());
            assertFalse(d.reluBackward(x, bad, out));
            assertEquals(Nd4j.zeros(DataType.FLOAT, shape), out, "nothing written");
        }
        INDArray out = Nd4j.zeros(DataType.FLOAT, shape);
        assertFalse(d.scaleShift(x, new float[4], f, out), "factors of another channel count");
        assertFalse(d.scaleShift(x.reshape(2, 80), f, f, out.reshape(2, 80)), "batch norm wants rank 4");
        assertFalse(d.reluBackward(x, dy, Nd4j.zeros(DataType.FLOAT, 2, 5, 4, 4).permute(0, 1, 3, 2)), "output not dense C");
        assertEquals(Nd4j.zeros(DataType.FLOAT, shape), out);
        assertEquals(0, d.plans("scaleShift") + d.plans("batchNormBackward") + d.plans("reluBackward"), "no plan made for any of them");
    }

    @Test
    void aDecliningInstanceWritesNothing() {
        DirectEltwise d = DirectEltwise.decliningForTests();
        assertNotNull(d);
        long[] shape = {2, 5, 4, 4};
        INDArray x = randn(17, shape);
        float[] f = factors(5, 18, 0.5, 1.5);
        INDArray out = Nd4j.zeros(DataType.FLOAT, shape);
        assertFalse(d.scaleShift(x, f, f, out));
        assertFalse(d.batchNormBackward(x, x, f, f, f, Nd4j.zeros(DataType.FLOAT, shape), out));
        assertFalse(d.reluBackward(x, x, out));
        assertFalse(d.reluBackward(x, x, out), "declined for good, asked again");
        assertEquals(Nd4j.zeros(DataType.FLOAT, shape), out);
    }

    @Test
    void onePlanPerShapeAtMostSixKept() {
        DirectEltwise d = direct();
        float[] f = factors(3, 19, 0.5, 1.5);
        for (int round = 0; round < 2; round++) {
            for (int n = 1; n <= 4; n++) {
                INDArray x = randn(20 + n, n, 3, 5, 5);
                INDArray out = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
                assertTrue(d.scaleShift(x, f, f, out));
                assertTrue(d.reluBackward(x, x, out));
            }
        }
        assertEquals(4, d.plans("scaleShift"), "one plan per batch size, reused in the second round");
        assertEquals(4, d.plans("reluBackward"));
        for (int n = 5; n <= 9; n++) {
            INDArray x = randn(30 + n, n, 3, 5, 5);
            INDArray out = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
            assertTrue(d.scaleShift(x, f, f, out));
            // still right after older plans were freed
            assertClose(x.mul(Nd4j.createFromArray(f).reshape(1, 3, 1, 1)).addi(Nd4j.createFromArray(f).reshape(1, 3, 1, 1)), out, 1e-6);
        }
        assertEquals(6, d.plans("scaleShift"), "at most six kept, the oldest freed first");
    }

    @Test
    void aPlanBuiltOnOneThreadRunsOnAnotherAfterTheFirstEnded() throws Exception {
        DirectEltwise d = direct();
        long[] shape = {3, 13, 8, 8};
        INDArray x = randn(40, shape);
        INDArray dy = randn(41, shape);
        float[] a = factors(13, 42, 0.5, 2);
        float[] b = factors(13, 43, -0.1, 0.1);
        float[] s = factors(13, 44, -0.1, 0.1);
        INDArray[] built = new INDArray[3];
        Thread builder = new Thread(() -> built[0] = runAll(d, x, dy, a, b, s));
        builder.start();
        builder.join();
        assertEquals(3, d.plans("scaleShift") + d.plans("batchNormBackward") + d.plans("reluBackward"), "plans made on the ended thread");
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread worker = new Thread(() -> {
            try {
                for (int i = 0; i < 20; i++) {
                    built[1] = runAll(d, x, dy, a, b, s);
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        worker.start();
        worker.join();
        assertNull(failure.get());
        built[2] = runAll(d, x, dy, a, b, s);
        assertEquals(3, d.plans("scaleShift") + d.plans("batchNormBackward") + d.plans("reluBackward"), "the same plans");
        // JIT kernels, never the reference ones (those are declined): jit:uni for binary, jit:<isa> for eltwise
        for (String kind : List.of("scaleShift", "batchNormBackward", "reluBackward")) {
            System.out.printf("[direct eltwise] %s runs oneDNN's %s%n", kind, d.implementations(kind));
            assertTrue(d.implementations(kind).stream().allMatch(i -> i.startsWith("jit")), kind + ": " + d.implementations(kind));
        }
        assertEquals(built[0], built[1]);
        assertEquals(built[0], built[2]);
    }

    /** scaleShift, batchNormBackward and reluBackward in a row, their outputs side by side. */
    private static INDArray runAll(DirectEltwise d, INDArray x, INDArray dy, float[] a, float[] b, float[] s) {
        INDArray y = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        INDArray relu = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        assertTrue(d.scaleShift(x, a, s, y));
        assertTrue(d.batchNormBackward(dy, x, a, b, s, Nd4j.createUninitialized(DataType.FLOAT, x.shape()), dx));
        assertTrue(d.reluBackward(x, dy, relu));
        return Nd4j.concat(0, y, dx, relu);
    }

    @Test
    void thePropertySwitchesItOffAndRefusesOtherValues() {
        System.setProperty(DirectEltwise.PROPERTY, "false");
        assertNull(DirectEltwise.createIfAvailable());
        assertFalse(FastLayers.directEltwise());
        System.setProperty(DirectEltwise.PROPERTY, "maybe");
        UserError e = assertThrows(UserError.class, DirectEltwise::createIfAvailable);
        assertTrue(e.getMessage().contains("-Dxraydl.directEltwise=maybe"), e.getMessage());
        System.setProperty(DirectEltwise.PROPERTY, "true");
        assertNotNull(DirectEltwise.createIfAvailable());
        assertTrue(FastLayers.directEltwise());
    }

    /** How many elements of two arrays of the same length differ in their bits. */
    static int differingBits(INDArray a, INDArray b) {
        float[] x = a.data().asFloat();
        float[] y = b.data().asFloat();
        int n = 0;
        for (int i = 0; i < x.length; i++) {
            if (Float.floatToRawIntBits(x[i]) != Float.floatToRawIntBits(y[i])) {
                n++;
            }
        }
        return n;
    }

    static void assertClose(INDArray expected, INDArray actual, double rtol) {
        INDArray e = expected.castTo(DataType.DOUBLE);
        double scale = e.amaxNumber().doubleValue();
        double diff = e.sub(actual.castTo(DataType.DOUBLE)).amaxNumber().doubleValue();
        assertTrue(diff <= rtol * scale, "max |diff| " + diff + " vs max |value| " + scale);
    }
}
