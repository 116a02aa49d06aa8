package org.xraydl.explain;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Grad-CAM (Selvaraju et al. 2017): which parts of the image raised a class's score. At a
 * convolutional layer with feature maps A_k, the weight of map k is the spatial mean of
 * d(logit_c)/dA_k; the map is ReLU(sum_k w_k A_k), scaled to [0, 1] by its maximum and upsampled
 * bilinearly to the input size. Runs in inference mode (batch norm uses its running statistics,
 * no dropout) and leaves the network's parameters and state as they were, so the same input gives
 * the same map every time. Works on frozen trunks: the gradient passes frozen layers.
 */
public final class GradCam {
    private final ComputationGraph net;
    private final String layer;

    /** Grad-CAM at {@code layer}, or at the default layer ({@link ClassScoreGradient#defaultTarget}) when null. */
    public GradCam(ComputationGraph net, String layer) {
        this.net = net;
        this.layer = layer;
    }

    /** The heatmap of {@code classIndex} (-1: the predicted class) for one image {@code [1, C, H, W]}. */
    public Heatmap compute(INDArray input, int classIndex) {
        if (input.rank() != 4 || input.size(0) != 1) {
            throw new IllegalArgumentException("Grad-CAM takes one image [1,C,H,W], got " + java.util.Arrays.toString(input.shape()));
        }
        ClassScoreGradient.Result r = ClassScoreGradient.compute(net, input, layer, classIndex);
        INDArray a = r.activations();
        if (a.rank() != 4) {
            throw new org.xraydl.UserError("--cam-layer " + r.layer() + " gives " + a.rank()
                    + "-d activations, not feature maps: pick a convolutional layer");
        }
        INDArray weights = r.gradient().castTo(DataType.DOUBLE).mean(2, 3);           // [1, K]
        INDArray cam = a.castTo(DataType.DOUBLE).get(org.nd4j.linalg.indexing.NDArrayIndex.point(0))
                .mul(weights.reshape(a.size(1), 1, 1)).sum(0);                         // [h, w]
        double[][] small = cam.toDoubleMatrix();
        double max = 0;
        for (double[] row : small) {
            for (int x = 0; x < row.length; x++) {
                row[x] = Math.max(0, row[x]);
                max = Math.max(max, row[x]);
            }
        }
        if (max > 0) {
            for (double[] row : small) {
                for (int x = 0; x < row.length; x++) {
                    row[x] /= max;
                }
            }
        }
        int c = r.classIndices().getInt(0);
        return new Heatmap(bilinear(small, (int) input.size(2), (int) input.size(3)), c,
                r.probabilities().getDouble(0, c), r.layer());
    }

    /** Convenience for one call: the map of {@code classIndex} (-1: predicted) at the default layer. */
    public static Heatmap compute(ComputationGraph net, INDArray input, int classIndex) {
        return new GradCam(net, null).compute(input, classIndex);
    }

    /** Bilinear resize with pixel centres aligned (OpenCV's and PyTorch's align_corners=false). */
    static double[][] bilinear(double[][] src, int outH, int outW) {
        double[][] out = new double[outH][outW];
        for (int y = 0; y < outH; y++) {
            for (int x = 0; x < outW; x++) {
                out[y][x] = Heatmap.interpolate(src, (y + 0.5) * src.length / outH, (x + 0.5) * src[0].length / outW);
            }
        }
        return out;
    }
}
