package org.xraydl.data;

import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Size;

import java.util.Random;

import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;

/**
 * The evaluation path of the paper (torchvision Resize(255) + CenterCrop(224)): shorter side
 * resized to {@code resizeTo}, then the central {@code size x size} square. Deterministic.
 */
public class CenterCropTransform extends MatTransform {
    private final int resizeTo;
    private final int size;

    public CenterCropTransform(int resizeTo, int size) {
        super(null);
        this.resizeTo = resizeTo;
        this.size = size;
    }

    @Override
    protected Mat transform(Mat mat, Random random) {
        int h = mat.rows();
        int w = mat.cols();
        double scale = resizeTo / (double) Math.min(h, w);
        int nh = Math.max(size, (int) Math.round(h * scale));
        int nw = Math.max(size, (int) Math.round(w * scale));
        Mat resized = new Mat();
        resize(mat, resized, new Size(nw, nh), 0, 0, INTER_AREA);
        Mat out = resized.apply(new Rect((nw - size) / 2, (nh - size) / 2, size, size)).clone();
        return out;
    }
}
