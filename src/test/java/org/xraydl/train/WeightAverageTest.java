package org.xraydl.train;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;
import org.xraydl.model.ModelFactory;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The weight average's arithmetic on hand-computed numbers, and the swap of the average into a network and back. */
class WeightAverageTest {

    private static float[] flat(INDArray x) {
        return x.dup('c').reshape(x.length()).toFloatVector();
    }

    private static INDArray row(float... v) {
        return Nd4j.create(v, new long[]{1, v.length}, 'c');
    }

    @Test
    void theDecayIsWarmedUpByTheIterationCount() {
        assertEquals(0.1, WeightAverage.decayAt(0.999, 0), 1e-15, "(1 + 0) / (10 + 0)");
        assertEquals(0.5, WeightAverage.decayAt(0.999, 8), 1e-15, "9 / 18");
        assertEquals(0.991, WeightAverage.decayAt(0.999, 990), 1e-15, "991 / 1000");
        assertEquals(0.999, WeightAverage.decayAt(0.999, 10_000), 0, "10001 / 10010 = 0.9991 > 0.999");
        assertEquals(0.05, WeightAverage.decayAt(0.05, 0), 0, "a decay below the warm-up's is used from the start");
    }

    @Test
    void updatesGiveTheHandComputedAverage() {
        INDArray start = row(1, 2, -4);
        WeightAverage a = WeightAverage.startingAt(0.9, start);
        start.assign(99); // the average is a copy
        // n = 0: d = 0.1; avg = p + 0.1 (avg - p) = (3 - 0.2, 2, 0 - 0.4)
        a.update(row(3, 2, 0), 0);
        assertArrayEquals(new float[]{2.8f, 2f, -0.4f}, a.average().toFloatVector(), 1e-6f);
        // n = 8: d = min(0.9, 9 / 18) = 0.5; avg = 1 + 0.5 (2.8 - 1, 2 - 1, -0.4 - 1) = (1.9, 1.5, 0.3)
        INDArray p = row(1, 1, 1);
        a.update(p, 8);
        assertArrayEquals(new float[]{1.9f, 1.5f, 0.3f}, a.average().toFloatVector(), 1e-6f);
        assertArrayEquals(new float[]{1, 1, 1}, p.toFloatVector(), 0f, "the parameters are only read");
        // n = 1000: d = min(0.9, 1001 / 1010) = 0.9; avg = 0 + 0.9 avg
        a.update(row(0, 0, 0), 1000);
        assertArrayEquals(new float[]{1.71f, 1.35f, 0.27f}, a.average().toFloatVector(), 1e-6f);
    }

    @Test
    void aRestoredAverageTakesTheNetworksShapeAndMustHaveItsLength() {
        ComputationGraph net = ModelFactory.create(TestData.tinyConfig(Map.of()), 2, null);
        int n = (int) net.params().length();
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = i * 0.25f;
        }
        WeightAverage flat = WeightAverage.restored(0.5, Nd4j.create(v), net); // rank 1, the average is [1, n]
        assertArrayEquals(new long[]{1, n}, flat.average().shape());
        assertArrayEquals(v, flat.average().toFloatVector(), 0f);
        flat.update(net.params(), 1_000_000); // shapes agree: no broadcasting error
        assertThrows(IllegalStateException.class, () -> WeightAverage.restored(0.5, Nd4j.create(new float[n + 1]), net));
        assertThrows(IllegalArgumentException.class, () -> WeightAverage.startingAt(1.0, net.params()));
    }

    @Test
    void validatingWithTheAverageLeavesTheRawWeightsBitIdentical() {
        RunConfig c = TestData.tinyConfig(Map.of());
        ComputationGraph net = ModelFactory.create(c, 2, null);
        float[] raw = net.params().toFloatVector();
        WeightAverage a = WeightAverage.startingAt(0.5, net.params());
        INDArray other = net.params().mul(0.5).addi(0.01);
        a.update(other, 1_000_000); // avg = other + 0.5 (raw - other)
        float[] avg = a.average().toFloatVector();
        float[] expectedAvg = new float[raw.length];
        float[] o = other.toFloatVector();
        boolean differs = false;
        for (int i = 0; i < raw.length; i++) {
            expectedAvg[i] = o[i] + 0.5f * (raw[i] - o[i]);
            differs |= avg[i] != raw[i];
        }
        assertArrayEquals(expectedAvg, avg, 1e-6f);
        assertTrue(differs, "the average differs from the weights");

        INDArray x = Nd4j.rand(DataType.FLOAT, 3, 3, c.imageSize(), c.imageSize());
        float[] rawOut = flat(net.outputSingle(false, x));
        float[] averagedOut = a.withAverageIn(net, () -> flat(net.outputSingle(false, x)));
        // Independently: another network of the same architecture given the average as its parameters.
        ComputationGraph other2 = ModelFactory.create(c, 2, null);
        other2.setParams(Nd4j.create(avg, new long[]{1, avg.length}, 'c'));
        assertArrayEquals(flat(other2.outputSingle(false, x)), averagedOut, 0f);
        assertFalse(java.util.Arrays.equals(rawOut, averagedOut), "the averaged weights give other outputs");

        assertArrayEquals(raw, net.params().toFloatVector(), 0f, "raw weights back, bit for bit");
        assertArrayEquals(avg, a.average().toFloatVector(), 0f, "the average is only read");
        assertArrayEquals(rawOut, flat(net.outputSingle(false, x)), 0f, "the network computes with its raw weights again");

        assertThrows(IllegalStateException.class, () -> a.withAverageIn(net, () -> {
            throw new IllegalStateException("validation failed");
        }));
        assertArrayEquals(raw, net.params().toFloatVector(), 0f, "raw weights back however the body ends");
    }

    @Test
    void withAFrozenTrunkOnlyTheHeadIsAveragedAndSwappedIn() {
        ComputationGraph net = ModelFactory.create(TestData.tinyConfig(Map.of("freezeTrunk", true)), 2, null);
        boolean[] head = TestData.headMask(net);
        float[] raw = net.params().toFloatVector();
        WeightAverage a = WeightAverage.startingAt(0.5, net);
        float[] start = a.average().toFloatVector();
        float[] expected = new float[start.length];
        INDArray other = net.params().mul(0.5).addi(0.01); // as if the head had trained (the trunk's numbers are not read)
        float[] o = other.toFloatVector();
        for (int i = 0, j = 0; i < raw.length; i++) {
            if (head[i]) {
                assertEquals(raw[i], start[j], 0f, "starts at the head's weights");
                expected[j] = o[i] + 0.5f * (raw[i] - o[i]);
                j++;
            }
        }
        assertEquals(start.length, expected.length);
        assertTrue(start.length < raw.length / 4, start.length + " of " + raw.length + " parameters averaged");
        a.update(other, 1_000_000);
        assertArrayEquals(expected, a.average().toFloatVector(), 1e-6f);

        float[] inside = a.withAverageIn(net, () -> net.params().toFloatVector());
        for (int i = 0, j = 0; i < raw.length; i++) {
            if (head[i]) {
                assertEquals(Float.floatToIntBits(a.average().getFloat(j++)), Float.floatToIntBits(inside[i]), "head parameter " + i);
            } else {
                assertEquals(Float.floatToIntBits(raw[i]), Float.floatToIntBits(inside[i]), "frozen parameter " + i + " untouched");
            }
        }
        assertArrayEquals(raw, net.params().toFloatVector(), 0f, "raw weights back, bit for bit");
        assertThrows(IllegalStateException.class, () -> WeightAverage.restored(0.5, Nd4j.create(new float[raw.length]), net),
                "a full-length array is not this network's average (ModelBundle.load cuts an older one down)");
    }
}
