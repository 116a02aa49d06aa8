package org.xraydl.kernels;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.graph.vertex.impl.MergeVertex;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.model.DenseNetBuilder;
import org.xraydl.model.DenseNetSpec;
import org.xraydl.model.HeadSpec;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FastMergeVertex}: its backprop split (oneDNN reorders) gives DL4J's MergeVertex's arrays bit for bit, for
 * 2 and 3 inputs and odd sizes; other ranks run DL4J's code; in a small DenseNet {@link FastLayers} replaces every
 * merge vertex and the gradients are the same bits as with DL4J's.
 */
@ExtendWith(NativeHelpersOn.class)
class FastMergeVertexTest {
    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();


    @AfterEach
    void clearProperty() {
        System.clearProperty(FastLayers.FAST_MERGE_PROPERTY);
    }

    private static INDArray[] forwardAndBackward(MergeVertex v, INDArray[] inputs, INDArray epsilon) {
        v.setInputs(inputs);
        INDArray out = v.doForward(true, NO_WS);
        assertArrayEquals(epsilon.shape(), out.shape());
        v.setEpsilon(epsilon);
        return v.doBackward(false, NO_WS).getSecond();
    }

    @Test
    void theSplitIsDl4jsBitForBit() {
        long[][][] cases = {
                {{2, 3, 3, 5}, {2, 4, 3, 5}},
                {{3, 5, 7, 7}, {3, 1, 7, 7}, {3, 6, 7, 7}},
                {{1, 8, 1, 1}, {1, 8, 1, 1}},
                {{2, 2, 6}, {2, 3, 6}},  // rank 3: DL4J's code
                {{4, 3}, {4, 5}},        // rank 2: DL4J's code
        };
        for (long[][] shapes : cases) {
            Nd4j.getRandom().setSeed(shapes.length * 7L + shapes[0][1]);
            INDArray[] inputs = new INDArray[shapes.length];
            long channels = 0;
            for (int i = 0; i < shapes.length; i++) {
                inputs[i] = Nd4j.randn(DataType.FLOAT, shapes[i]);
                channels += shapes[i][1];
            }
            long[] epsShape = shapes[0].clone();
            epsShape[1] = channels;
            INDArray epsilon = Nd4j.randn(DataType.FLOAT, epsShape);
            long before = FastMergeVertex.splits();
            INDArray[] fast = forwardAndBackward(new FastMergeVertex(null, "m", 0, null, null, DataType.FLOAT, 1), inputs, epsilon);
            boolean handled = shapes[0].length == 4;
            assertEquals(handled ? 1 : 0, FastMergeVertex.splits() - before, Arrays.deepToString(shapes));
            INDArray[] dl4j = forwardAndBackward(new MergeVertex(null, "m", 0, null, null, DataType.FLOAT, 1), inputs, epsilon);
            assertEquals(dl4j.length, fast.length);
            for (int i = 0; i < dl4j.length; i++) {
                assertEquals(dl4j[i], fast[i], Arrays.deepToString(shapes) + ": input " + i);
                assertEquals('c', fast[i].ordering());
                assertTrue(OneDnn.denseC(fast[i]));
            }
        }
    }

    @Test
    void replacesEveryMergeVertexOfADenseNetAndGivesTheSameGradients() {
        ComputationGraph dl4j = DenseNetBuilder.build(DenseNetSpec.compact(4, List.of(3, 2), 8), 16, 3, 13, 1e-2,
                new HeadSpec(List.of(), List.of(), 2, null));
        ComputationGraph fast = dl4j.clone();
        System.setProperty(FastLayers.FAST_MERGE_PROPERTY, "false");
        FastLayers.engage(dl4j);
        System.clearProperty(FastLayers.FAST_MERGE_PROPERTY);
        FastLayers.engage(fast);
        long merges = Arrays.stream(dl4j.getVertices()).filter(v -> v.getClass() == MergeVertex.class).count();
        assertEquals(5, merges);
        assertEquals(0, Arrays.stream(fast.getVertices()).filter(v -> v.getClass() == MergeVertex.class).count());
        for (GraphVertex v : fast.getVertices()) {
            assertSame(v, fast.getVertex(v.getVertexName()), "the by-name map holds the same vertex");
            assertSame(v, fast.getVertices()[v.getVertexIndex()]);
        }
        Nd4j.getRandom().setSeed(3);
        INDArray x = Nd4j.rand(DataType.FLOAT, 4, 3, 16, 16).subi(0.5).muli(3);
        INDArray y = Nd4j.zeros(DataType.FLOAT, 4, 2);
        for (int i = 0; i < 4; i++) {
            y.putScalar(i, i % 2, 1.0);
        }
        DataSet data = new DataSet(x, y);
        for (int step = 0; step < 3; step++) {
            long before = FastMergeVertex.splits();
            fast.fit(data);
            assertEquals(merges, FastMergeVertex.splits() - before, "every merge split its gradient here");
            dl4j.fit(data);
            assertEquals(dl4j.params(), fast.params(), "step " + step + ": the same parameters, bit for bit");
        }
        assertEquals(dl4j.outputSingle(x), fast.outputSingle(x));
    }
}
