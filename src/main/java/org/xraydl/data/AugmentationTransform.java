package org.xraydl.data;

import org.bytedeco.opencv.opencv_core.Mat;

import org.datavec.image.data.ImageWritable;
import org.datavec.image.transform.BaseImageTransform;
import org.datavec.image.transform.FlipImageTransform;
import org.datavec.image.transform.RotateImageTransform;

import java.util.Random;

/**
 * The paper's training augmentation (RandomRotation(30), RandomResizedCrop, RandomHorizontalFlip),
 * drawn fresh for every image of every epoch from one seeded Random. DataVec's
 * PipelineImageTransform is not used because it re-seeds ND4J's global RNG.
 */
public class AugmentationTransform extends BaseImageTransform<Object> {
    private final RotateImageTransform rotate;
    private final RandomResizedCropTransform crop;
    private final FlipImageTransform horizontalFlip = new FlipImageTransform(1);
    private final boolean flip;
    /** Before rotation, so the whole chain sees what an 8-bit copy of the image would give. */
    private final MatTransform eightBit = new MatTransform(null) {
        @Override
        protected Mat transform(Mat image, Random random) {
            return image;
        }
    };

    public AugmentationTransform(Random random, int size, double rotationDegrees, double cropScaleMin, boolean flip) {
        super(random);
        this.rotate = rotationDegrees > 0 ? new RotateImageTransform(random, (float) rotationDegrees) : null;
        this.crop = new RandomResizedCropTransform(random, size, cropScaleMin);
        this.flip = flip;
    }

    @Override
    protected ImageWritable doTransform(ImageWritable image, Random random) {
        if (image == null) {
            return null;
        }
        ImageWritable out = eightBit.transform(image, random);
        if (rotate != null) {
            out = rotate.transform(out, random);
        }
        out = crop.transform(out, random);
        if (flip && random.nextBoolean()) {
            out = horizontalFlip.transform(out);
        }
        return out;
    }
}
