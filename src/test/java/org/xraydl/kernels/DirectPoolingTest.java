package org.xraydl.kernels;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.UserError;

import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link DirectPooling} (oneDNN's nChw8c pooling called directly) against pooling computed here by the definition,
 * in double, and against libnd4j's own {@code maxpool2d}/{@code avgpool2d} kernels and their {@code _bp}: max and
 * average, kernels 2 and 3 at stride 2, odd and even sizes (a negative bottom/right padding where Truncate drops a
 * row or column), the DenseNet stem's padding, DL4J's Same-mode split of the padding, channels that are not a
 * multiple of 8; ties in max-pool windows; the workspace rules (a backprop after a forward pass of another shape, in
 * inference mode or on another input recomputes); plans run on another thread than the one that built them.
 */
class DirectPoolingTest {
    /** Sums of a few floats in another order; outputs of a max pool must be exact. */
    private static final double TOLERANCE = 1e-6;

    @AfterEach
    void restoreSwitch() {
        System.clearProperty(DirectPooling.PROPERTY);
    }

    @ParameterizedTest(name = "{0} {5}x{5}/{6} pad {7},{8} on [{1},{2},{3},{4}] to {9}x{10} ({11}) shift {12}")
    @CsvSource({
            "MAX, 2, 5, 11, 11, 3, 2, 1, 1, 6, 6, T, 0",   // the stem's 3x3/2 padding 1, odd size
            "MAX, 3, 12, 10, 10, 3, 2, 1, 1, 5, 5, T, -1", // even size, mostly negative: the padding must not win
            "MAX, 2, 5, 9, 7, 2, 2, 0, 0, 4, 3, T, 0",     // odd sizes: Truncate drops the last row and column (padding -1)
            "MAX, 2, 12, 8, 8, 2, 2, 0, 0, 4, 4, T, 0",
            "MAX, 2, 5, 8, 9, 3, 2, 0, 1, 4, 5, S, 0",     // Same mode: 0 on top, 1 at the bottom; 1 left, 1 right
            "AVG, 2, 5, 9, 7, 2, 2, 0, 0, 4, 3, T, 0",     // the DenseNet transitions, odd sizes
            "AVG, 3, 12, 8, 8, 2, 2, 0, 0, 4, 4, T, 0",
            "AVG, 2, 5, 11, 10, 3, 2, 1, 1, 6, 5, T, 0",   // windows over the padding: the divisor counts only inside elements
            "AVG, 2, 12, 8, 9, 3, 2, 0, 1, 4, 5, S, 0",
    })
    void outputsAndGradientsAreTheDefinitionsAndLibnd4jsOnes(String type, int n, int c, int h, int w, int k, int s,
                                                            int padTop, int padLeft, int oh, int ow, char mode, double shift) {
        DirectPooling pool = DirectPooling.createIfAvailable();
        assertNotNull(pool, "oneDNN's Java bindings load on this machine (linux-x86_64 natives are a dependency)");
        DirectPooling.Window win = new DirectPooling.Window(type.equals("MAX"), k, k, s, s, 1, 1, padTop, padLeft);
        Random r = new Random(11);
        INDArray x = random(r, n, c, h, w).addi(shift);
        long[] yShape = {n, c, oh, ow};
        INDArray dy = random(r, yShape);
        INDArray y = Nd4j.createUninitialized(DataType.FLOAT, yShape);
        INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        String what = type + " " + k + "/" + s + " on " + java.util.Arrays.toString(x.shape());

        assertTrue(pool.forward(x, win, true, y), what);
        assertTrue(pool.backward(x, dy, win, dx), what);
        assertEquals(0, pool.recomputedForwards(), "the backprop used the forward pass's workspace");
        Reference ref = reference(x, dy, win, yShape);
        assertClose(ref.y, y, what + ": output vs the definition", win.max() ? 0 : TOLERANCE);
        assertClose(ref.dx, dx, what + ": input gradient vs the definition", TOLERANCE);

        // libnd4j's own kernel, as FastPoolingLayer runs it for the LIBND4J choice (in Same mode it splits the padding itself)
        INDArray libY = Nd4j.create(DataType.FLOAT, yShape);
        INDArray libDx = Nd4j.create(DataType.FLOAT, x.shape());
        libnd4j(win, mode == 'S', x, null, libY);
        libnd4j(win, mode == 'S', x, dy, libDx);
        assertClose(libY, y, what + ": output vs libnd4j", win.max() ? 0 : TOLERANCE);
        assertClose(libDx, dx, what + ": input gradient vs libnd4j", TOLERANCE);

        // inference mode: the same output, and no workspace for a backprop to use
        INDArray yInference = Nd4j.createUninitialized(DataType.FLOAT, yShape);
        assertTrue(pool.forward(x, win, false, yInference));
        assertClose(ref.y, yInference, what + ": inference output", win.max() ? 0 : TOLERANCE);
        INDArray dx2 = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        assertTrue(pool.backward(x, dy, win, dx2));
        assertClose(ref.dx, dx2, what + ": input gradient after an inference forward pass", TOLERANCE);
        assertEquals(win.max() ? 1 : 0, pool.recomputedForwards(), "a max pool recomputed its forward pass");
        assertEquals(0, pool.declinedCalls());
    }

    /**
     * Equal values in a window: the gradient goes whole to one position, the first maximum in row-major order (as
     * libnd4j's maxpool2d_bp and oneDNN's reference kernel do); so the gradient is the definition's exactly.
     */
    @Test
    void tiesSendTheGradientToTheFirstMaximumOfTheWindow() {
        DirectPooling pool = DirectPooling.createIfAvailable();
        Random r = new Random(4);
        for (int k : new int[]{2, 3}) {
            DirectPooling.Window win = new DirectPooling.Window(true, k, k, 2, 2, 1, 1, k == 3 ? 1 : 0, k == 3 ? 1 : 0);
            // values from {0, 1, 2} (many ties), and a constant plane (every window a tie)
            INDArray x = Nd4j.createUninitialized(DataType.FLOAT, 2, 12, 9, 9);
            for (long i = 0; i < x.length(); i++) {
                x.putScalar(i, r.nextInt(3));
            }
            x.get(org.nd4j.linalg.indexing.NDArrayIndex.point(1), org.nd4j.linalg.indexing.NDArrayIndex.point(3)).assign(0.5);
            long[] yShape = outShape(x, win);
            INDArray dy = random(r, yShape);
            INDArray y = Nd4j.createUninitialized(DataType.FLOAT, yShape);
            INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
            assertTrue(pool.forward(x, win, true, y));
            assertTrue(pool.backward(x, dy, win, dx));
            Reference ref = reference(x, dy, win, yShape);
            assertClose(ref.y, y, "output, kernel " + k, 0);
            assertClose(ref.dx, dx, "gradient, kernel " + k, TOLERANCE);
            INDArray libDx = Nd4j.create(DataType.FLOAT, x.shape());
            libnd4j(win, false, x, dy, libDx);
            assertClose(libDx, dx, "gradient vs libnd4j, kernel " + k, TOLERANCE);
            // and the gradient's total is dy's (each output's gradient lands exactly once)
            assertEquals(dy.sumNumber().doubleValue(), dx.sumNumber().doubleValue(), 1e-4);
        }
    }

    @Test
    void aBackpropAfterAForwardPassOfAnotherShapeOrInputRecomputesInsteadOfReadingTheWorkspace() {
        DirectPooling pool = DirectPooling.createIfAvailable();
        DirectPooling.Window win = new DirectPooling.Window(true, 3, 3, 2, 2, 1, 1, 1, 1);
        Random r = new Random(8);
        INDArray a = random(r, 2, 5, 10, 10);
        INDArray b = random(r, 3, 5, 12, 12);
        INDArray a2 = random(r, 2, 5, 10, 10); // a's shape, another buffer
        long[] aOut = outShape(a, win);
        INDArray dy = random(r, aOut);
        Reference ref = reference(a, dy, win, aOut);

        assertTrue(pool.forward(a, win, true, Nd4j.createUninitialized(DataType.FLOAT, aOut)));
        assertTrue(pool.forward(b, win, true, Nd4j.createUninitialized(DataType.FLOAT, outShape(b, win))));
        INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, a.shape());
        assertTrue(pool.backward(a, dy, win, dx));
        assertClose(ref.dx, dx, "after a forward pass of another shape", TOLERANCE);
        assertEquals(1, pool.recomputedForwards());

        assertTrue(pool.forward(a2, win, true, Nd4j.createUninitialized(DataType.FLOAT, aOut)));
        dx = Nd4j.createUninitialized(DataType.FLOAT, a.shape());
        assertTrue(pool.backward(a, dy, win, dx));
        assertClose(ref.dx, dx, "after a forward pass of the same shape on another input", TOLERANCE);
        assertEquals(2, pool.recomputedForwards());

        // the same input again: the kept workspace, no recomputation; and twice in a row
        assertTrue(pool.forward(a, win, true, Nd4j.createUninitialized(DataType.FLOAT, aOut)));
        for (int i = 0; i < 2; i++) {
            dx = Nd4j.createUninitialized(DataType.FLOAT, a.shape());
            assertTrue(pool.backward(a, dy, win, dx));
            assertClose(ref.dx, dx, "with the kept workspace", TOLERANCE);
        }
        assertEquals(2, pool.recomputedForwards());

        // a forward pass the layer ran elsewhere (libnd4j's kernel, DL4J's code) drops it
        pool.dropWorkspace();
        dx = Nd4j.createUninitialized(DataType.FLOAT, a.shape());
        assertTrue(pool.backward(a, dy, win, dx));
        assertClose(ref.dx, dx, "after the workspace was dropped", TOLERANCE);
        assertEquals(3, pool.recomputedForwards());

        // a gradient that is a view (not dense): copied, same result
        INDArray wide = Nd4j.zeros(DataType.FLOAT, aOut[0], aOut[1] + 3, aOut[2], aOut[3]);
        INDArray dyView = wide.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 1 + aOut[1]),
                org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all()).assign(dy);
        assertFalse(OneDnn.denseC(dyView));
        dx = Nd4j.createUninitialized(DataType.FLOAT, a.shape());
        assertTrue(pool.backward(a, dyView, win, dx));
        assertClose(ref.dx, dx, "with a gradient view", TOLERANCE);
    }

    /** ParallelWrapper runs layers on worker threads: plans (and the kept workspace) made on one thread, run on another. */
    @Test
    void plansBuiltOnOneThreadRunOnAnother() throws InterruptedException {
        DirectPooling pool = DirectPooling.createIfAvailable();
        Random r = new Random(21);
        for (boolean max : new boolean[]{true, false}) {
            DirectPooling.Window win = new DirectPooling.Window(max, 3, 3, 2, 2, 1, 1, 1, 1);
            INDArray x = random(r, 4, 12, 16, 16);
            long[] yShape = outShape(x, win);
            INDArray dy = random(r, yShape);
            INDArray y = Nd4j.createUninitialized(DataType.FLOAT, yShape);
            INDArray dx = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread builder = new Thread(() -> {
                try {
                    assertTrue(pool.forward(x, win, true, y));
                    assertTrue(pool.backward(x, dy, win, dx));
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            builder.start();
            builder.join(); // the thread and its scratch area are gone
            assertNull(failure.get());
            Reference ref = reference(x, dy, win, yShape);
            for (int run = 0; run < 2; run++) {
                INDArray y2 = Nd4j.createUninitialized(DataType.FLOAT, yShape);
                INDArray dx2 = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
                Thread worker = new Thread(() -> {
                    try {
                        assertTrue(pool.forward(x, win, true, y2));
                        assertTrue(pool.backward(x, dy, win, dx2));
                    } catch (Throwable t) {
                        failure.set(t);
                    }
                });
                worker.start();
                worker.join();
                assertNull(failure.get());
                assertClose(ref.y, y2, "output on another thread", max ? 0 : TOLERANCE);
                assertClose(ref.dx, dx2, "gradient on another thread", TOLERANCE);
            }
            // forward on this thread, backward on another one: the workspace belongs to the layer, not the thread
            assertTrue(pool.forward(x, win, true, y));
            INDArray dx3 = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
            Thread other = new Thread(() -> {
                try {
                    assertTrue(pool.backward(x, dy, win, dx3));
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            other.start();
            other.join();
            assertNull(failure.get());
            assertClose(ref.dx, dx3, "backward on another thread than its forward pass", TOLERANCE);
            assertEquals(0, pool.recomputedForwards());
        }
        assertEquals(2, pool.plans(true));
    }

    @Test
    void casesItDoesNotTakeGoToTheCallerWithOneWarningEach() {
        DirectPooling pool = DirectPooling.createIfAvailable();
        Random r = new Random(2);
        INDArray x = random(r, 2, 5, 9, 9);
        // dilation 2: 3x3 spans 5
        DirectPooling.Window dilated = new DirectPooling.Window(true, 3, 3, 2, 2, 2, 2, 0, 0);
        INDArray y = Nd4j.createUninitialized(DataType.FLOAT, 2, 5, 3, 3);
        assertFalse(pool.forward(x, dilated, true, y));
        assertFalse(pool.forward(x, dilated, true, y));
        assertFalse(pool.backward(x, y, dilated, Nd4j.createUninitialized(DataType.FLOAT, x.shape())));
        assertEquals(3, pool.declinedCalls());
        assertEquals(1, DirectPooling.warned().stream().filter(m -> m.contains("dilation")).count(), DirectPooling.warned().toString());
        // doubles
        INDArray xd = x.castTo(DataType.DOUBLE);
        DirectPooling.Window plain = new DirectPooling.Window(true, 2, 2, 2, 2, 1, 1, 0, 0);
        assertFalse(pool.forward(xd, plain, true, Nd4j.createUninitialized(DataType.DOUBLE, 2, 5, 4, 4)));
        // an input view that is not dense
        INDArray view = Nd4j.zeros(DataType.FLOAT, 2, 7, 9, 9).get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 6), org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.all());
        assertFalse(pool.forward(view, plain, true, Nd4j.createUninitialized(DataType.FLOAT, 2, 5, 4, 4)));
        assertEquals(5, pool.declinedCalls());
        // a window wholly inside the padding: oneDNN has only its reference kernel for that (slower than libnd4j's)
        DirectPooling.Window padded = new DirectPooling.Window(true, 2, 2, 2, 2, 1, 1, 2, 2);
        INDArray small = random(r, 1, 8, 4, 4);
        assertFalse(pool.forward(small, padded, true, Nd4j.createUninitialized(DataType.FLOAT, 1, 8, 4, 4)));
        assertEquals(6, pool.declinedCalls());
        assertTrue(DirectPooling.warned().stream().anyMatch(m -> m.startsWith("oneDNN declined the forward pass of a max pool on "
                + "[1, 8, 4, 4] to [4, 4], kernel [2, 2], stride [2, 2], padding [2, 2]")), DirectPooling.warned().toString());
        int warnings = DirectPooling.warned().size();
        assertFalse(pool.forward(small, padded, false, Nd4j.createUninitialized(DataType.FLOAT, 1, 8, 4, 4)));
        assertFalse(pool.forward(small, padded, true, Nd4j.createUninitialized(DataType.FLOAT, 1, 8, 4, 4)));
        assertFalse(pool.forward(view, plain, true, Nd4j.createUninitialized(DataType.FLOAT, 2, 5, 4, 4)));
        assertEquals(warnings, DirectPooling.warned().size(), "one warning per case and process (in either mode)");
        assertEquals(9, pool.declinedCalls());
    }

    @Test
    void theSwitchTurnsItOffAndABadValueIsOneClearError() {
        System.setProperty(DirectPooling.PROPERTY, "false");
        assertNull(DirectPooling.createIfAvailable());
        assertFalse(DirectPooling.usable());
        System.setProperty(DirectPooling.PROPERTY, "maybe");
        UserError e = assertThrows(UserError.class, DirectPooling::createIfAvailable);
        assertTrue(e.getMessage().contains("-Dxraydl.directPooling=maybe") && e.getMessage().contains("true")
                && e.getMessage().contains("false"), e.getMessage());
        System.clearProperty(DirectPooling.PROPERTY);
        assertNotNull(DirectPooling.createIfAvailable());
        assertTrue(DirectPooling.usable());
    }

    /** The output shape in Truncate mode with the top/left padding also at the bottom/right: floor((in + 2 pad - k) / s) + 1. */
    private static long[] outShape(INDArray x, DirectPooling.Window w) {
        return new long[]{x.size(0), x.size(1), (x.size(2) + 2L * w.padTop() - w.kH()) / w.sH() + 1,
                (x.size(3) + 2L * w.padLeft() - w.kW()) / w.sW() + 1};
    }

    private record Reference(INDArray y, INDArray dx) {
    }

    /**
     * The definition in double: windows clipped to the input (padding is never a candidate and never counted);
     * max: the first maximum in row-major order takes the whole gradient; average: divided by the inside count.
     */
    private static Reference reference(INDArray xa, INDArray dya, DirectPooling.Window w, long[] yShape) {
        int n = (int) xa.size(0), c = (int) xa.size(1), h = (int) xa.size(2), wd = (int) xa.size(3);
        int oh = (int) yShape[2], ow = (int) yShape[3];
        double[] x = xa.dup('c').data().asDouble();
        double[] dy = dya.dup('c').data().asDouble();
        double[] y = new double[n * c * oh * ow];
        double[] dx = new double[x.length];
        for (int plane = 0; plane < n * c; plane++) {
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    int yi = (plane * oh + i) * ow + j;
                    double best = Double.NEGATIVE_INFINITY;
                    int bestAt = -1;
                    double sum = 0;
                    int count = 0;
                    for (int a = 0; a < w.kH(); a++) {
                        for (int b = 0; b < w.kW(); b++) {
                            int row = i * w.sH() - w.padTop() + a;
                            int col = j * w.sW() - w.padLeft() + b;
                            if (row < 0 || row >= h || col < 0 || col >= wd) {
                                continue;
                            }
                            int xi = (plane * h + row) * wd + col;
                            if (x[xi] > best) {
                                best = x[xi];
                                bestAt = xi;
                            }
                            sum += x[xi];
                            count++;
                        }
                    }
                    if (w.max()) {
                        y[yi] = best;
                        dx[bestAt] += dy[yi];
                    } else {
                        y[yi] = sum / count;
                        for (int a = 0; a < w.kH(); a++) {
                            for (int b = 0; b < w.kW(); b++) {
                                int row = i * w.sH() - w.padTop() + a;
                                int col = j * w.sW() - w.padLeft() + b;
                                if (row >= 0 && row < h && col >= 0 && col < wd) {
                                    dx[(plane * h + row) * wd + col] += dy[yi] / count;
                                }
                            }
                        }
                    }
                }
            }
        }
        return new Reference(Nd4j.create(y, yShape, DataType.DOUBLE), Nd4j.create(dx, xa.shape(), DataType.DOUBLE));
    }

    /**
     * libnd4j's own kernel (op helpers off) as DL4J's layer calls it, with the window's padding or in Same mode
     * ({@code same}: libnd4j splits the padding itself); {@code dy == null}: forward.
     */
    private static void libnd4j(DirectPooling.Window w, boolean same, INDArray x, INDArray dy, INDArray out) {
        String op = (w.max() ? "maxpool2d" : "avgpool2d") + (dy == null ? "" : "_bp");
        OpContext ctx = Nd4j.getExecutioner().buildContext();
        ctx.allowHelpers(false);
        ctx.setIArguments(w.kH(), w.kW(), w.sH(), w.sW(), same ? 0 : w.padTop(), same ? 0 : w.padLeft(), 1, 1, same ? 1 : 0, 0, 0);
        ctx.setInputArray(0, x);
        if (dy != null) {
            ctx.setInputArray(1, dy);
        }
        ctx.setOutputArray(0, out);
        Nd4j.exec(DynamicCustomOp.builder(op).build(), ctx);
        ctx.purge();
    }

    private static INDArray random(Random r, long... shape) {
        INDArray a = Nd4j.createUninitialized(DataType.FLOAT, shape);
        for (long i = 0; i < a.length(); i++) {
            a.putScalar(i, r.nextGaussian());
        }
        return a;
    }

    private static void assertClose(INDArray expected, INDArray actual, String what, double tolerance) {
        assertArrayEquals(expected.shape(), actual.shape(), what);
        double diff = expected.castTo(DataType.DOUBLE).sub(actual.castTo(DataType.DOUBLE)).amaxNumber().doubleValue();
        assertTrue(diff <= tolerance, what + ": max difference " + diff);
    }
}
