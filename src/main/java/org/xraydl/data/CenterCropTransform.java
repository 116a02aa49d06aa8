package org.xraydl.data;

import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;

import java.util.Random;

import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;

/**
 * The evaluation path of the paper (torchvision Resize(255) + CenterCrop(224)): shorter side
 * resized to {@code resizeTo} with {@code resampling} (OpenCV: INTER_AREA), then the central {@code size x size}
 * square. Deterministic.
 */
public class CenterCropTransform extends MatTransform {
    private final int resizeTo;
    private final int size;
    private final Resampling resampling;

    public CenterCropTransform(int resizeTo, int size, Resampling resampling) {
        super(null);
        this.resizeTo = resizeTo;
        this.size = size;
        this.resampling = resampling;
    }

    /** The evaluation view of a model: its resize, crop and filter. */
    public static CenterCropTransform of(Preprocessing p) {
        return new CenterCropTransform(p.resizeTo(), p.imageSize(), p.filter());
    }

    @Override
    CenterCropTransform copy() {
        return new CenterCropTransform(resizeTo, size, resampling);
    }

    @Override
    protected Mat transform(Mat mat, Random random) {
        int h = mat.rows();
        int w = mat.cols();
        int nh = resized(h, Math.min(h, w));
        int nw = resized(w, Math.min(h, w));
        Mat resized = resampling.resize(mat, nw, nh, INTER_AREA);
        Mat out = resized.apply(new Rect((nw - size) / 2, (nh - size) / 2, size, size)).clone();
        return out;
    }

    /** A side of {@code side} px after the shorter side {@code shorter} is resized to {@code resizeTo}. */
    private int resized(int side, int shorter) {
        return Math.max(size, (int) Math.round(side * (resizeTo / (double) shorter)));
    }

    /**
     * Where the model's input square lies in a source image of {@code w x h} pixels:
     * {x, y, width, height} in source pixels (so a map over the input can be drawn on the original).
     */
    public double[] sourceWindow(int w, int h) {
        int nw = resized(w, Math.min(h, w));
        int nh = resized(h, Math.min(h, w));
        double sx = nw / (double) w;
        double sy = nh / (double) h;
        return new double[]{((nw - size) / 2) / sx, ((nh - size) / 2) / sy, size / sx, size / sy};
    }
}
