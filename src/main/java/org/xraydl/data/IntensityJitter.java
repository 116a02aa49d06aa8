package org.xraydl.data;

import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Scalar;

import java.util.Random;

import static org.bytedeco.opencv.global.opencv_core.mean;

/**
 * torchvision's {@code ColorJitter(brightness=b, contrast=c)} on 8-bit images (X-ray exposure variation), in a fixed
 * order: brightness, then contrast. Each factor is uniform in [max(0, 1 - amount), 1 + amount] and is drawn from the
 * Random only when its amount is > 0, so with both amounts 0 nothing is drawn. Brightness is {@code pixel * f};
 * contrast is {@code mean + f * (pixel - mean)} with {@code mean} the mean of every channel's values of the
 * (brightened) image: for our grey images (1 or 3 equal channels) the grey mean torchvision takes, unrounded (PIL
 * rounds it to an integer). Both are OpenCV's {@code convertTo}, which rounds to nearest and saturates to 0..255.
 */
final class IntensityJitter extends MatTransform {
    private final double brightness;
    private final double contrast;

    IntensityJitter(Random random, double brightness, double contrast) {
        super(random);
        this.brightness = brightness;
        this.contrast = contrast;
    }

    @Override
    IntensityJitter copy() {
        return new IntensityJitter(getRandom(), brightness, contrast);
    }

    @Override
    protected Mat transform(Mat image, Random random) {
        double b = brightness > 0 ? factor(random, brightness) : 1;
        double c = contrast > 0 ? factor(random, contrast) : 1;
        return apply(image, b, c);
    }

    /** One factor of torchvision's ColorJitter: uniform in [max(0, 1 - amount), 1 + amount]. */
    static double factor(Random random, double amount) {
        double lo = Math.max(0, 1 - amount);
        return lo + (1 + amount - lo) * random.nextDouble();
    }

    /** {@code image} with brightness factor {@code b}, then contrast factor {@code c} (1 = unchanged), still 8-bit. */
    static Mat apply(Mat image, double b, double c) {
        Mat out = image;
        if (b != 1) {
            Mat bright = new Mat();
            out.convertTo(bright, -1, b, 0);
            out = bright;
        }
        if (c != 1) {
            Mat contrasted = new Mat();
            out.convertTo(contrasted, -1, c, (1 - c) * meanOfAllChannels(out));
            out = contrasted;
        }
        return out;
    }

    /** Every channel has as many values, so the mean of all values is the mean of the channel means. */
    static double meanOfAllChannels(Mat image) {
        Scalar m = mean(image);
        double sum = 0;
        for (int ch = 0; ch < image.channels(); ch++) {
            sum += m.get(ch);
        }
        return sum / image.channels();
    }
}
