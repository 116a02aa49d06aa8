package org.xraydl.kernels;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.scalar.ScalarMultiplication;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** {@link LayerOps}: values written out by hand, one kept context across shapes and workspaces. */
class LayerOpsTest {

    private static INDArray rows(float[][] v) {
        return Nd4j.createFromArray(v);
    }

    @Test
    void multiplyScalesEachRowByItsFactorAndMultipliesEqualShapesElementWise() {
        LayerOps ops = new LayerOps();
        INDArray x = rows(new float[][]{{1, 2, 3}, {-4, 5, 0.5f}});
        INDArray out = Nd4j.create(DataType.FLOAT, 2, 3);
        ops.multiply(x, rows(new float[][]{{2}, {-0.5f}}), out);
        assertArrayEquals(new float[]{2, 4, 6, 2, -2.5f, -0.25f}, out.data().asFloat());
        ops.multiply(x, x, out);
        assertArrayEquals(new float[]{1, 4, 9, 16, 25, 0.25f}, out.data().asFloat());
    }

    @Test
    void addShiftsEachRowAndAddsInPlace() {
        LayerOps ops = new LayerOps();
        INDArray x = rows(new float[][]{{1, 2}, {3, 4}, {5, 6}});
        ops.add(x, rows(new float[][]{{10}, {-3}, {0.25f}}), x);
        assertArrayEquals(new float[]{11, 12, 0, 1, 5.25f, 6.25f}, x.data().asFloat());
        INDArray y = rows(new float[][]{{1, 1}, {2, 2}, {3, 3}});
        ops.add(x, y, x);
        assertArrayEquals(new float[]{12, 13, 2, 3, 8.25f, 9.25f}, x.data().asFloat());
    }

    @Test
    void matmulWithAColumnOfOnesGivesTheRowSums() {
        LayerOps ops = new LayerOps();
        INDArray x = rows(new float[][]{{1, 2, 3, 4}, {-1, 0.5f, 0.25f, 8}});
        INDArray sums = Nd4j.create(DataType.FLOAT, 2, 1);
        ops.matmul(x, Nd4j.ones(DataType.FLOAT, 4, 1), sums);
        assertArrayEquals(new float[]{10, 7.75f}, sums.data().asFloat());
        INDArray w = rows(new float[][]{{1, 0}, {0, 2}, {1, 1}, {0, 0}});
        INDArray out = Nd4j.create(DataType.FLOAT, 2, 2);
        ops.matmul(x, w, out); // beta 0: the old contents of out do not count
        ops.matmul(x, w, out);
        assertArrayEquals(new float[]{4, 7, -0.75f, 1.25f}, out.data().asFloat());
    }

    /** The same bits as ND4J's scalar multiplication along dimension 1, which the batch-norm layer used before. */
    @Test
    void rowScalingEqualsNd4jsScalarOpAlongDimensionBitForBit() {
        Nd4j.getRandom().setSeed(7);
        INDArray x = Nd4j.randn(DataType.FLOAT, 96, 36);
        INDArray f = Nd4j.randn(DataType.FLOAT, 96);
        INDArray viaScalarOp = Nd4j.create(DataType.FLOAT, 96, 36);
        ScalarMultiplication op = new ScalarMultiplication(x, f, viaScalarOp, 0.0);
        op.setDimension(1);
        Nd4j.exec(op);
        INDArray viaLayerOps = Nd4j.create(DataType.FLOAT, 96, 36);
        new LayerOps().multiply(x, f.reshape(96, 1), viaLayerOps);
        assertArrayEquals(viaScalarOp.data().asFloat(), viaLayerOps.data().asFloat());
    }

    /** Arrays from successive workspace cycles (as in training) through one context, then arrays outside any. */
    @Test
    void oneContextServesArraysOfEveryWorkspaceCycleAndShape() {
        LayerOps ops = new LayerOps();
        WorkspaceConfiguration conf = WorkspaceConfiguration.builder().initialSize(1 << 20).build();
        for (int cycle = 1; cycle <= 3; cycle++) {
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(conf, "layer-ops-test")) {
                INDArray x = Nd4j.valueArrayOf(new long[]{cycle, cycle + 1}, (float) cycle);
                INDArray out = Nd4j.create(DataType.FLOAT, cycle, cycle + 1);
                ops.multiply(x, x, out);
                assertEquals((double) cycle * cycle * cycle * (cycle + 1), out.sumNumber().doubleValue(), 0.0);
            }
        }
        INDArray out = Nd4j.create(DataType.FLOAT, 1, 2);
        ops.add(rows(new float[][]{{1, 2}}), rows(new float[][]{{3, 4}}), out);
        assertArrayEquals(new float[]{4, 6}, out.data().asFloat());
    }
}
