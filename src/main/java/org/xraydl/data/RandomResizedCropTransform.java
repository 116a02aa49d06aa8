package org.xraydl.data;

import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;

import java.util.Random;

import static org.bytedeco.opencv.global.opencv_imgproc.INTER_LINEAR;

/**
 * torchvision's RandomResizedCrop, which DataVec lacks: a crop of random area (scaleMin..1 of
 * the image) and aspect ratio (3/4..4/3) at a random place, resized to size x size with {@code resampling}
 * (OpenCV: INTER_LINEAR).
 */
public class RandomResizedCropTransform extends MatTransform {
    private final int size;
    private final double scaleMin;
    private final Resampling resampling;

    public RandomResizedCropTransform(Random random, int size, double scaleMin, Resampling resampling) {
        super(random);
        this.size = size;
        this.scaleMin = scaleMin;
        this.resampling = resampling;
    }

    @Override
    RandomResizedCropTransform copy() {
        return new RandomResizedCropTransform(getRandom(), size, scaleMin, resampling);
    }

    @Override
    protected Mat transform(Mat mat, Random random) {
        int h = mat.rows();
        int w = mat.cols();
        Rect rect = null;
        for (int attempt = 0; attempt < 10 && rect == null && random != null; attempt++) {
            double area = h * (double) w * (scaleMin + (1 - scaleMin) * random.nextDouble());
            double logRatio = Math.log(3.0 / 4) + (Math.log(4.0 / 3) - Math.log(3.0 / 4)) * random.nextDouble();
            double ratio = Math.exp(logRatio);
            int cw = (int) Math.round(Math.sqrt(area * ratio));
            int ch = (int) Math.round(Math.sqrt(area / ratio));
            if (cw > 0 && ch > 0 && cw <= w && ch <= h) {
                int x = random.nextInt(w - cw + 1);
                int y = random.nextInt(h - ch + 1);
                rect = new Rect(x, y, cw, ch);
            }
        }
        if (rect == null) { // fallback as in torchvision: centre crop of the whole image
            int s = Math.min(h, w);
            rect = new Rect((w - s) / 2, (h - s) / 2, s, s);
        }
        Mat cropped = mat.apply(rect);
        return resampling.resize(cropped, size, size, INTER_LINEAR);
    }
}
