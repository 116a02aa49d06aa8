package org.xraydl.data;

import org.bytedeco.javacv.OpenCVFrameConverter;
import org.bytedeco.opencv.opencv_core.Mat;
import org.datavec.image.data.ImageWritable;
import org.datavec.image.transform.BaseImageTransform;

import java.util.Random;

/**
 * A DataVec image transform written as a function of an OpenCV Mat in 8-bit depth (null images pass through).
 * Like every DataVec transform it keeps state per call (its frame converter, the last image), so it is not
 * safe to share between threads: {@link #copy()} makes the instance another thread (or image) uses.
 */
abstract class MatTransform extends BaseImageTransform<Mat> {

    MatTransform(Random random) {
        super(random);
        this.converter = new OpenCVFrameConverter.ToMat();
    }

    /** A new instance with the same settings (and the same Random, if any) and no state of its own yet. */
    abstract MatTransform copy();

    /** The transformed image; {@code random} is null for deterministic transforms. */
    protected abstract Mat transform(Mat image, Random random);

    @Override
    protected final ImageWritable doTransform(ImageWritable image, Random random) {
        if (image == null) {
            return null;
        }
        // 16-bit images scaled to 8-bit first: models and normalisation assume 0-255.
        Mat in = ImageChecks.toEightBit(converter.convert(image.getFrame()));
        return new ImageWritable(converter.convert(transform(in, random)));
    }
}
