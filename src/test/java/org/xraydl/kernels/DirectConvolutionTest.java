package org.xraydl.kernels;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.xraydl.UserError;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link DirectConvolution} (oneDNN's primitives called directly) against convolutions computed here by the
 * definition, in double, on small cases of every kind the networks use (1x1, 3x3 with DL4J's Same padding, the 7x7/2
 * stem's explicit padding, stride 2 with a bottom/right remainder), and against libnd4j's {@code conv2d} /
 * {@code conv2d_bp} ops at the compact DenseNet's real sizes, where libnd4j picks Winograd for some backward passes.
 */
class DirectConvolutionTest {

    @AfterEach
    void restoreSwitch() {
        System.clearProperty(DirectConvolution.PROPERTY);
    }

    /** One convolution case: input [n, c, h, w], k x k weights to o channels, stride, top/left padding, output size. */
    private record Case(int n, int c, int h, int w, int o, int k, int stride, int padTop, int padLeft, int outH, int outW) {
    }

    @Test
    void forwardAndBothGradientsAreTheDefinitionsOnEveryKindOfLayer() {
        DirectConvolution conv = DirectConvolution.createIfAvailable();
        assertNotNull(conv, "oneDNN's Java bindings load on this machine (linux-x86_64 natives are a dependency)");
        Case[] cases = {
                new Case(2, 5, 6, 6, 4, 1, 1, 0, 0, 6, 6),    // 1x1 bottleneck
                new Case(2, 4, 7, 6, 3, 3, 1, 1, 1, 7, 6),    // 3x3 Same, stride 1
                new Case(3, 3, 11, 11, 4, 7, 2, 3, 3, 6, 6),  // the stem: 7x7/2, explicit padding 3 (Truncate)
                new Case(2, 3, 8, 8, 2, 3, 2, 0, 0, 4, 4),    // 3x3/2 Same on an even size: padding only bottom/right
                new Case(1, 2, 9, 9, 3, 3, 2, 1, 1, 5, 5),    // 3x3/2 Same on an odd size
        };
        Random r = new Random(5);
        for (Case k : cases) {
            String what = k.toString();
            INDArray x = random(r, k.n, k.c, k.h, k.w);
            // weights and their gradient as views inside larger buffers, as DL4J's parameter and gradient views are
            INDArray wBuffer = random(r, 1, k.o * k.c * k.k * k.k + 10);
            INDArray w = wBuffer.get(NDArrayIndex.point(0), NDArrayIndex.interval(5, 5 + k.o * k.c * k.k * k.k)).reshape('c', k.o, k.c, k.k, k.k);
            INDArray dwBuffer = Nd4j.valueArrayOf(new long[]{1, k.o * k.c * k.k * k.k + 10}, 7f, DataType.FLOAT);
            INDArray dw = dwBuffer.get(NDArrayIndex.point(0), NDArrayIndex.interval(5, 5 + k.o * k.c * k.k * k.k)).reshape('c', k.o, k.c, k.k, k.k);
            assertTrue(w.isView() && dw.isView(), what);
            INDArray dy = random(r, k.n, k.o, k.outH, k.outW);
            INDArray y = Nd4j.createUninitialized(DataType.FLOAT, k.n, k.o, k.outH, k.outW);
            INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, k.n, k.c, k.h, k.w);
            int[] stride = {k.stride, k.stride};
            int[] pad = {k.padTop, k.padLeft};

            assertTrue(conv.forward(x, w, stride, pad, y), what);
            assertTrue(conv.backward(x, w, dy, stride, pad, dx, dw), what);

            Reference ref = reference(k, x, w, dy);
            assertClose(ref.y, y, what + ": output");
            assertClose(ref.dx, dx, what + ": input gradient");
            assertClose(ref.dw, dw, what + ": weight gradient");
            for (int i : new int[]{0, 4, k.o * k.c * k.k * k.k + 5, k.o * k.c * k.k * k.k + 9}) {
                assertEquals(7f, dwBuffer.getFloat(0, i), what + ": the gradient buffer outside the view is untouched");
            }
        }
    }

    /**
     * The weight gradient alone (the stem's mode): the definition's, into a view inside a larger buffer, and the same
     * bits as the full backward's weight gradient (the same primitive on the same layouts).
     */
    @Test
    void weightGradientOnlyIsTheDefinitionAndTheFullBackwardsBits() {
        DirectConvolution conv = DirectConvolution.createIfAvailable();
        assertNotNull(conv);
        Case[] cases = {
                new Case(3, 3, 11, 11, 4, 7, 2, 3, 3, 6, 6),    // the stem: 7x7/2, explicit padding 3
                new Case(2, 3, 16, 17, 4, 7, 2, 3, 3, 8, 9),    // uneven: bottom/right padding from the output size
                new Case(2, 4, 7, 6, 3, 3, 1, 1, 1, 7, 6),      // 3x3, stride 1
        };
        Random r = new Random(17);
        for (Case k : cases) {
            String what = k.toString();
            INDArray x = random(r, k.n, k.c, k.h, k.w);
            INDArray w = random(r, k.o, k.c, k.k, k.k);
            INDArray dy = random(r, k.n, k.o, k.outH, k.outW);
            int size = k.o * k.c * k.k * k.k;
            INDArray dwBuffer = Nd4j.valueArrayOf(new long[]{1, size + 10}, 7f, DataType.FLOAT);
            INDArray dw = dwBuffer.get(NDArrayIndex.point(0), NDArrayIndex.interval(5, 5 + size)).reshape('c', k.o, k.c, k.k, k.k);
            int[] stride = {k.stride, k.stride};
            int[] pad = {k.padTop, k.padLeft};
            assertTrue(conv.backwardWeights(x, w.shape(), dy, stride, pad, dw), what);
            assertClose(reference(k, x, w, dy).dw, dw, what + ": weight gradient");
            for (int i : new int[]{0, 4, size + 5, size + 9}) {
                assertEquals(7f, dwBuffer.getFloat(0, i), what + ": the gradient buffer outside the view is untouched");
            }
            INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, k.n, k.c, k.h, k.w);
            INDArray dwFull = Nd4j.createUninitialized(DataType.FLOAT, k.o, k.c, k.k, k.k);
            assertTrue(conv.backward(x, w, dy, stride, pad, dx, dwFull), what);
            assertEquals(dwFull, dw, what + ": the full backward's weight gradient");
        }
        assertEquals(cases.length, conv.weightsOnlyPlans());
    }

    /**
     * Plans (forward and backward, two shapes) built on a thread that has ended, then run several times on another
     * thread, as ParallelWrapper's workers run plans its start-up thread made: outputs and both gradients are still
     * the definition's. oneDNN's default ("library") scratchpad belongs to the creating thread; with it this crashed
     * the JVM. The shapes are chosen so that their primitives do use a scratchpad (checked at the end), else the test
     * would prove nothing about it.
     */
    @Test
    void plansBuiltOnAThreadThatHasEndedRunOnAnotherThread() throws Exception {
        DirectConvolution conv = DirectConvolution.createIfAvailable();
        assertNotNull(conv);
        Case[] cases = {
                new Case(4, 3, 28, 28, 8, 7, 2, 3, 3, 14, 14),    // the stem's kind: 7x7/2 on 3 channels
                new Case(8, 32, 16, 16, 16, 3, 1, 1, 1, 16, 16),  // a 3x3 Same layer
        };
        Random r = new Random(21);
        INDArray[][] arrays = new INDArray[cases.length][];
        Reference[] expected = new Reference[cases.length];
        for (int i = 0; i < cases.length; i++) {
            Case k = cases[i];
            INDArray x = random(r, k.n, k.c, k.h, k.w);
            INDArray w = random(r, k.o, k.c, k.k, k.k);
            INDArray dy = random(r, k.n, k.o, k.outH, k.outW);
            arrays[i] = new INDArray[]{x, w, dy};
            expected[i] = reference(k, x, w, dy);
        }
        // The builder makes every plan (its first call of each shape and direction), then ends.
        Throwable[] failed = new Throwable[1];
        Thread builder = new Thread(() -> {
            try {
                for (int i = 0; i < cases.length; i++) {
                    runAndCheck(conv, cases[i], arrays[i], expected[i], "built on " + Thread.currentThread().getName());
                }
            } catch (Throwable t) {
                failed[0] = t;
            }
        }, "plan-builder");
        builder.start();
        builder.join();
        rethrow(failed[0]);
        assertFalse(builder.isAlive());
        assertEquals(cases.length, conv.plans(true));
        assertEquals(cases.length, conv.plans(false));
        System.gc(); // the ended thread's thread-locals may go now

        Thread runner = new Thread(() -> {
            try {
                for (int round = 0; round < 3; round++) {
                    for (int i = 0; i < cases.length; i++) {
                        runAndCheck(conv, cases[i], arrays[i], expected[i], "round " + round + " on " + Thread.currentThread().getName());
                    }
                }
            } catch (Throwable t) {
                failed[0] = t;
            }
        }, "plan-runner");
        runner.start();
        runner.join();
        rethrow(failed[0]);
        assertEquals(cases.length, conv.plans(true), "the runner made no plans of its own");
        assertEquals(cases.length, conv.plans(false), "the runner made no plans of its own");
        assertTrue(conv.scratchpadBytes(true) + conv.scratchpadBytes(false) > 0,
                "oneDNN chose primitives without a scratchpad for these shapes here: the test did not exercise one");
    }

    /** One forward and one backward call of case {@code k} into outputs filled with NaN first, against the reference. */
    private static void runAndCheck(DirectConvolution conv, Case k, INDArray[] xWDy, Reference ref, String what) {
        INDArray y = Nd4j.valueArrayOf(new long[]{k.n, k.o, k.outH, k.outW}, Float.NaN, DataType.FLOAT);
        INDArray dx = Nd4j.valueArrayOf(new long[]{k.n, k.c, k.h, k.w}, Float.NaN, DataType.FLOAT);
        INDArray dw = Nd4j.valueArrayOf(new long[]{k.o, k.c, k.k, k.k}, Float.NaN, DataType.FLOAT);
        int[] stride = {k.stride, k.stride};
        int[] pad = {k.padTop, k.padLeft};
        what = k + ", " + what;
        assertTrue(conv.forward(xWDy[0], xWDy[1], stride, pad, y), what);
        assertTrue(conv.backward(xWDy[0], xWDy[1], xWDy[2], stride, pad, dx, dw), what);
        assertClose(ref.y, y, what + ": output");
        assertClose(ref.dx, dx, what + ": input gradient");
        assertClose(ref.dw, dw, what + ": weight gradient");
    }

    private static void rethrow(Throwable t) throws Exception {
        if (t instanceof Error e) {
            throw e;
        }
        if (t instanceof Exception e) {
            throw e;
        }
    }

    @Test
    void compactDenseNetSizesAgreeWithLibnd4jsOps() {
        DirectConvolution conv = DirectConvolution.createIfAvailable();
        assertNotNull(conv);
        Random r = new Random(9);
        // 48 -> 12 3x3 at 24x24 and at 6x6 (where libnd4j's backward runs Winograd), 102 -> 48 1x1 at 6x6; batch 32
        int[][] shapes = {{48, 12, 3, 24}, {48, 12, 3, 6}, {102, 48, 1, 6}};
        for (int[] s : shapes) {
            int c = s[0], o = s[1], k = s[2], hw = s[3], p = k / 2;
            String what = c + "->" + o + " " + k + "x" + k + " at " + hw + "x" + hw;
            INDArray x = random(r, 32, c, hw, hw);
            INDArray w = random(r, o, c, k, k);
            INDArray dy = random(r, 32, o, hw, hw);
            INDArray expectedY = Nd4j.create(DataType.FLOAT, 32, o, hw, hw);
            libnd4j("conv2d", k, p, new INDArray[]{x, w}, new INDArray[]{expectedY});
            INDArray[] grads = {Nd4j.create(DataType.FLOAT, x.shape()), Nd4j.create(DataType.FLOAT, w.shape())};
            libnd4j("conv2d_bp", k, p, new INDArray[]{x, w, dy}, grads);
            INDArray y = Nd4j.createUninitialized(DataType.FLOAT, 32, o, hw, hw);
            INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, 32, c, hw, hw);
            INDArray dw = Nd4j.createUninitialized(DataType.FLOAT, o, c, k, k);
            assertTrue(conv.forward(x, w, new int[]{1, 1}, new int[]{p, p}, y));
            assertTrue(conv.backward(x, w, dy, new int[]{1, 1}, new int[]{p, p}, dx, dw));
            assertClose(expectedY, y, what + ": output");
            assertClose(grads[0], dx, what + ": input gradient");
            assertClose(grads[1], dw, what + ": weight gradient");
        }
    }

    @Test
    void plansAreCappedPerLayerAndBuffersShareOneScratchAreaPerThread() {
        DirectConvolution conv = DirectConvolution.createIfAvailable();
        assertNotNull(conv);
        Random r = new Random(3);
        INDArray w = random(r, 16, 8, 3, 3);
        long largest = 0;
        for (int batch = 1; batch <= 9; batch++) {
            INDArray x = random(r, batch, 8, 12, 12);
            INDArray y = Nd4j.createUninitialized(DataType.FLOAT, batch, 16, 12, 12);
            assertTrue(conv.forward(x, w, new int[]{1, 1}, new int[]{1, 1}, y));
            assertTrue(conv.plans(true) <= 6, "at most 6 shapes kept, " + conv.plans(true) + " after batch " + batch);
            long scratch = OneDnn.Scratch.sizeForThisThread();
            assertTrue(scratch >= largest, "the scratch area only grows");
            largest = scratch;
            // still right after evictions
            assertClose(reference(new Case(batch, 8, 12, 12, 16, 3, 1, 1, 1, 12, 12), x, w, Nd4j.zeros(DataType.FLOAT, batch, 16, 12, 12)).y, y,
                    "batch " + batch);
        }
        assertEquals(6, conv.plans(true));
        // blocked copies of a 9-image input and output (8 and 16 channels, 12x12 floats) at most, not one per shape
        assertTrue(largest > 0 && largest <= (9L * 16 * 12 * 12 + 9L * 16 * 12 * 12) * 4 + 4 * 64, "scratch " + largest + " bytes");
    }

    @Test
    void theSwitchTurnsItOffAndABadValueIsOneClearError() {
        System.setProperty(DirectConvolution.PROPERTY, "false");
        assertNull(DirectConvolution.createIfAvailable());
        System.setProperty(DirectConvolution.PROPERTY, "maybe");
        UserError e = assertThrows(UserError.class, DirectConvolution::createIfAvailable);
        assertTrue(e.getMessage().contains("-Dxraydl.directConv=maybe") && e.getMessage().contains("true") && e.getMessage().contains("false"),
                e.getMessage());
        System.clearProperty(DirectConvolution.PROPERTY);
        assertNotNull(DirectConvolution.createIfAvailable());
    }

    /** libnd4j's op as DL4J's oneDNN helper calls it: stride 1, explicit padding, NCHW, weights [oC, iC, kH, kW]. */
    private static void libnd4j(String op, int k, int p, INDArray[] in, INDArray[] out) {
        OpContext ctx = Nd4j.getExecutioner().buildContext();
        ctx.allowHelpers(true);
        ctx.setIArguments(k, k, 1, 1, p, p, 1, 1, 0, 0, 1);
        for (int i = 0; i < in.length; i++) {
            ctx.setInputArray(i, in[i]);
        }
        for (int i = 0; i < out.length; i++) {
            ctx.setOutputArray(i, out[i]);
        }
        Nd4j.exec(DynamicCustomOp.builder(op).build(), ctx);
        ctx.purge();
    }

    private record Reference(INDArray y, INDArray dx, INDArray dw) {
    }

    /** The convolution and its two gradients by the definition, in double. */
    private static Reference reference(Case k, INDArray xa, INDArray wa, INDArray dya) {
        double[] x = xa.dup('c').data().asDouble();
        double[] w = wa.dup('c').data().asDouble();
        double[] dy = dya.dup('c').data().asDouble();
        double[] y = new double[k.n * k.o * k.outH * k.outW];
        double[] dx = new double[k.n * k.c * k.h * k.w];
        double[] dw = new double[k.o * k.c * k.k * k.k];
        for (int n = 0; n < k.n; n++) {
            for (int o = 0; o < k.o; o++) {
                for (int i = 0; i < k.outH; i++) {
                    for (int j = 0; j < k.outW; j++) {
                        int yi = ((n * k.o + o) * k.outH + i) * k.outW + j;
                        for (int c = 0; c < k.c; c++) {
                            for (int a = 0; a < k.k; a++) {
                                for (int b = 0; b < k.k; b++) {
                                    int row = i * k.stride - k.padTop + a;
                                    int col = j * k.stride - k.padLeft + b;
                                    if (row < 0 || row >= k.h || col < 0 || col >= k.w) {
                                        continue;
                                    }
                                    int xi = ((n * k.c + c) * k.h + row) * k.w + col;
                                    int wi = ((o * k.c + c) * k.k + a) * k.k + b;
                                    y[yi] += x[xi] * w[wi];
                                    dx[xi] += dy[yi] * w[wi];
                                    dw[wi] += dy[yi] * x[xi];
                                }
                            }
                        }
                    }
                }
            }
        }
        return new Reference(Nd4j.create(y, new long[]{k.n, k.o, k.outH, k.outW}, DataType.DOUBLE),
                Nd4j.create(dx, new long[]{k.n, k.c, k.h, k.w}, DataType.DOUBLE),
                Nd4j.create(dw, new long[]{k.o, k.c, k.k, k.k}, DataType.DOUBLE));
    }

    private static INDArray random(Random r, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (r.nextGaussian());
        }
        return Nd4j.create(v, shape, DataType.FLOAT);
    }

    /** Float rounding only: every element within 1e-4 of the largest magnitude (sums of up to ~900 products). */
    private static void assertClose(INDArray expected, INDArray actual, String what) {
        assertEquals(java.util.Arrays.toString(expected.shape()), java.util.Arrays.toString(actual.shape()), what);
        double[] e = expected.dup('c').data().asDouble();
        double[] a = actual.dup('c').data().asDouble();
        double scale = 0;
        for (double v : e) {
            scale = Math.max(scale, Math.abs(v));
        }
        assertTrue(scale > 0, what + ": an all-zero reference proves nothing");
        for (int i = 0; i < e.length; i++) {
            assertEquals(e[i], a[i], 1e-4 * scale, what + ": element " + i);
        }
    }
}
